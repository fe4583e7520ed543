"""Text files are UTF-8 wherever DrugEnv runs, and the commands' output never fails on a character.

The README, the docs, the tables and a model's replies hold characters such as ``−``, ``→``, ``µ`` and ``Å``.
Where the locale's encoding is not UTF-8 (Windows, whose default is cp1252, or a Latin-1 locale) a file
opened without ``encoding=`` is read and written in that encoding: the types-and-encodings audit saw
``results_table`` empty README.md (``write_text`` truncates before it fails to encode), ``reference --write``
put a Latin-1 byte into docs/agents.md, and ``drugenv eval --paired`` and ``drugenv train`` end with
``UnicodeEncodeError`` printing ``−`` or ``→`` to a redirected output.

Here the locale is made ASCII (``LC_ALL=C`` without Python's coercion to UTF-8, ``-X utf8=0``), which fails
on the same characters, so these run on any Linux without a compiled non-UTF-8 locale.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("drugenv", "serve", "benchmarks", "examples", "scripts", "tests")
TEXT_OPENERS = {"open", "fdopen", "read_text", "write_text", "TextIOWrapper", "NamedTemporaryFile", "TemporaryFile"}
NOT_FILES = {"os", "tarfile", "zipfile", "gzip", "webbrowser", "Image", "RunStorage", "registry"}
"""Receivers whose ``.open`` is not a text file's (``os.open`` takes flags; a storage, a session registry)."""


def _mode(call: ast.Call, name: str) -> object:
    """The call's mode argument as written (a constant), None when absent, ... when not a constant."""
    position = 0 if name in ("NamedTemporaryFile", "TemporaryFile") else 1
    node = next((k.value for k in call.keywords if k.arg == "mode"), call.args[position] if len(call.args) > position else None)
    if node is None:
        return None
    return node.value if isinstance(node, ast.Constant) else ...


def locale_encoded_opens(path: Path) -> list[tuple[int, str]]:
    """``(line, call)`` for each call in ``path`` that opens a text file without saying its encoding."""
    found = []
    for call in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(call, ast.Call):
            continue
        f = call.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
        if name not in TEXT_OPENERS or any(k.arg in ("encoding", None) for k in call.keywords):
            continue
        if name == "open" and isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id in NOT_FILES:
            continue
        mode = _mode(call, name) if name not in ("read_text", "write_text") else "r"
        if name in ("NamedTemporaryFile", "TemporaryFile") and mode is None:  # binary by default
            continue
        if isinstance(mode, str) and "b" in mode:
            continue
        found.append((call.lineno, name))
    return sorted(found)


def test_no_text_file_is_opened_in_the_locale_encoding():
    found = [f"{path.relative_to(ROOT)}:{line}: {name}(...)" for src in SOURCES
             for path in sorted((ROOT / src).rglob("*.py")) for line, name in locale_encoded_opens(path)]
    assert not found, "pass encoding='utf-8' (or open in binary):\n" + "\n".join(found)


def test_the_check_sees_each_way_of_opening_a_text_file(tmp_path):
    code = tmp_path / "code.py"
    code.write_text("open(p)\nopen(p, 'w')\nopen(p, mode=m)\np.read_text()\np.write_text(t)\nos.fdopen(fd, 'w')\n"
                    "tempfile.NamedTemporaryFile('w')\n"  # each of the seven above, and none of these:
                    "open(p, 'rb')\nopen(p, encoding='utf-8')\np.read_bytes()\nos.open(p, 0)\ntempfile.NamedTemporaryFile()\n"
                    "RunStorage.open(uri, 'run')\nopen(p, **kw)\n", encoding="utf-8")
    assert [line for line, _ in locale_encoded_opens(code)] == [1, 2, 3, 4, 5, 6, 7]


def _ascii_locale_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHONUTF8", "PYTHONIOENCODING"))}
    return {**env, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0", "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-X", "utf8=0", *args], cwd=cwd, env=_ascii_locale_env(),
                          capture_output=True, timeout=300)


def test_under_an_ascii_locale_the_python_here_really_is_not_utf8(tmp_path):
    run = _run(["-c", "import locale, sys; print(locale.getpreferredencoding(False), sys.stdout.encoding)"], tmp_path)
    assert run.returncode == 0 and b"utf" not in run.stdout.lower(), run.stdout


def test_the_generated_pages_are_rewritten_byte_for_byte_under_a_non_utf8_locale(tmp_path):
    """What ``results_table refresh`` and ``reference --write`` do to the README, docs/grpo.md and
    docs/agents.md: nothing, when the pages are current (before: README emptied, or a Latin-1 byte written)."""
    (tmp_path / "docs").mkdir()
    shutil.copytree(ROOT / "docs" / "results", tmp_path / "docs" / "results")
    pages = ("README.md", "docs/grpo.md", "docs/agents.md")
    for page in pages:
        shutil.copy(ROOT / page, tmp_path / page)
    script = ("import sys; from pathlib import Path; from drugenv.evaluation.results_table import refresh; "
              "from drugenv.agents.reference import write; root = Path(sys.argv[1]); "
              "print(len(refresh(root)), write(root / 'docs' / 'agents.md'))")
    run = _run(["-c", script, str(tmp_path)], tmp_path)
    assert run.returncode == 0, run.stderr.decode("utf-8", "replace")[-2000:]
    for page in pages:
        assert (tmp_path / page).read_bytes() == (ROOT / page).read_bytes(), page


def test_commands_print_any_character_to_a_non_utf8_output(tmp_path):
    """``drugenv eval --paired`` prints ``−`` (the difference of two agents); it ended with UnicodeEncodeError
    after both agents had played and before ``--out`` was written. Now the character is written as an escape."""
    out = tmp_path / "paired.json"
    run = _run(["-m", "drugenv.cli", "eval", "--agent", "random", "--suite", "curated", "--episodes", "2",
                "--paired", "heuristic", "--no-progress", "--out", str(out)], tmp_path)
    assert run.returncode == 0, run.stderr.decode("utf-8", "replace")[-2000:]
    assert b"random \\u2212 heuristic on the same episodes" in run.stdout
    assert json.loads(out.read_text(encoding="utf-8"))["paired"]["agent"] == "heuristic"


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_only_the_command_line_entry_points_change_the_console(stream):
    """Importing drugenv leaves the caller's streams as they are; the commands set ``backslashreplace`` only
    on a stream that is not UTF-8 and would otherwise fail."""
    import io

    from drugenv.cli import tolerate_any_console_encoding

    raw = io.BytesIO()
    strict = io.TextIOWrapper(raw, encoding="ascii", errors="strict")
    utf8 = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    for given, expected in ((strict, "backslashreplace"), (utf8, "strict")):
        saved = getattr(sys, stream)
        setattr(sys, stream, given)
        try:
            tolerate_any_console_encoding()
        finally:
            setattr(sys, stream, saved)
        assert given.errors == expected
    strict.write("a − b")
    strict.flush()
    assert raw.getvalue() == b"a \\u2212 b"
