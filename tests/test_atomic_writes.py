"""A file a user keeps is replaced whole or not at all: a disk that fills (or a file size limit) while it is written
leaves the previous file as it was, and the command says so in one line with exit code 1.

The disk is made to fail for real, not by a stand-in: each command runs in a process whose file size limit
(``RLIMIT_FSIZE``, what ``prlimit --fsize`` sets) is below what it writes, so its write fails with EFBIG ("File too
large") as a full disk fails with ENOSPC. Writing in place (``Path.write_text``, ``savefig``, ``shutil.copyfile``)
first truncated the previous file, and the failed write left it cut short or empty."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from drugenv.cli import check_output_path, replacing, run_command, save_figure, write_text_atomic
from drugenv.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 1024
"""Bytes a limited process may write to one file: less than every file these tests have it write."""


def _limited(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # Python ignores SIGXFSZ: the write fails with EFBIG


def run_limited(argv: list[str], cwd: Path, limit: int = LIMIT) -> subprocess.CompletedProcess:
    # GIT_OPTIONAL_LOCKS=0: the command's provenance runs `git status`, which under the limit would be killed
    # (SIGXFSZ) while refreshing the repository's index, leaving index.lock behind to block every later git command.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1", "HF_HUB_OFFLINE": "1",
           "GIT_OPTIONAL_LOCKS": "0"}
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          preexec_fn=lambda: _limited(limit))


def one_disk_line(run: subprocess.CompletedProcess, prog: str, path: Path) -> None:
    lines = run.stderr.strip().splitlines()  # the last: before it, progress bars (baseline_table draws them)
    assert run.returncode == 1 and "Traceback" not in run.stderr and lines, run.stderr[-3000:]
    assert lines[-1] == (f"{prog}: error: File too large: {path} (a file grew past what the file system takes; "
                        "write to another disk)"), lines[-1]


def no_temporaries(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_drugenv_eval_out_keeps_the_previous_results_when_the_disk_fails(tmp_path):
    out = tmp_path / "results.json"
    previous = json.dumps({"previous": "x" * 4000})
    out.write_text(previous, encoding="utf-8")
    run = run_limited(["-m", "drugenv.cli", "eval", "--agent", "random", "--suite", "curated", "--episodes", "2",
                       "--no-progress", "--out", str(out)], tmp_path)
    one_disk_line(run, "drugenv eval", out)
    assert out.read_text(encoding="utf-8") == previous
    no_temporaries(tmp_path)


def _agents_page(tmp_path: Path) -> tuple[Path, str]:
    """A copy of docs/agents.md whose generated block is stale, so that ``--write`` rewrites it."""
    page = tmp_path / "agents.md"
    text = (ROOT / "docs" / "agents.md").read_text(encoding="utf-8").replace("| `", "| `x", 1)
    page.write_text(text, encoding="utf-8")
    return page, text


def test_reference_write_keeps_the_page_and_is_one_line_when_the_disk_fails(tmp_path):
    """It emptied the page, with a 40-line traceback."""
    page, text = _agents_page(tmp_path)
    run = run_limited(["-m", "drugenv.agents.reference", "--write", str(page)], tmp_path)
    one_disk_line(run, "python -m drugenv.agents.reference", page)
    assert page.read_text(encoding="utf-8") == text
    no_temporaries(tmp_path)


@pytest.mark.parametrize("page, says", [("missing.md", "cannot be read"), ("empty.md", "has no")])
def test_reference_write_to_a_page_it_cannot_use_is_one_line_exit_2(tmp_path, page, says):
    (tmp_path / "empty.md").write_text("no markers\n", encoding="utf-8")
    run = run_limited(["-m", "drugenv.agents.reference", "--write", page], tmp_path, limit=resource.RLIM_INFINITY)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and says in lines[0], run.stderr[-2000:]


def test_baseline_table_readme_keeps_the_readme_when_the_disk_fails(tmp_path):
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    readme.write_text(text, encoding="utf-8")
    size = len(text.encode("utf-8"))
    run = run_limited(["-m", "drugenv.evaluation.baseline_table", "--episodes", "8", "--out", str(tmp_path / "bl.json"),
                       "--readme", str(readme)], tmp_path, limit=size // 2)  # the JSON fits, the README does not
    one_disk_line(run, "python -m drugenv.evaluation.baseline_table", readme)
    assert readme.read_text(encoding="utf-8") == text
    no_temporaries(tmp_path)


@pytest.mark.parametrize("fails", ["json", "png"])
def test_publishing_evidence_keeps_the_committed_files_when_the_disk_fails(tmp_path, fails):
    """``results_table publish`` wrote docs/results/<name>.json and copied the curve over docs/images in place."""
    root, run_dir = tmp_path / "repo", tmp_path / "run"
    (root / "docs" / "results").mkdir(parents=True)
    (root / "docs" / "images").mkdir(parents=True)
    (run_dir / "evidence").mkdir(parents=True)
    committed_json, committed_png = root / "docs" / "results" / "x.json", root / "docs" / "images" / "x_curve.png"
    committed_json.write_text('{"committed": 1}\n', encoding="utf-8")
    committed_png.write_bytes(b"committed png")
    (run_dir / "evidence" / "training_curve.png").write_bytes(b"p" * (4 * LIMIT if fails == "png" else 10))
    results = {"big": "r" * (4 * LIMIT if fails == "json" else 10)}
    script = ("import json, sys; from pathlib import Path; from drugenv.evaluation.results_table import _write_evidence; "
              "_write_evidence(json.loads(sys.argv[1]), Path(sys.argv[2]), 'x', Path(sys.argv[3]))")
    run = run_limited(["-c", script, json.dumps(results), str(run_dir), str(root)], tmp_path)
    assert run.returncode == 1 and "File too large" in run.stderr, run.stderr[-2000:]
    assert committed_png.read_bytes() == b"committed png"
    assert committed_json.read_text(encoding="utf-8") == ('{"committed": 1}\n' if fails == "json" else
                                                          json.dumps(results, indent=2, sort_keys=True) + "\n")
    no_temporaries(root / "docs" / "results")
    no_temporaries(root / "docs" / "images")


def test_a_benchmark_record_keeps_the_previous_one_when_the_disk_fails(tmp_path):
    record = tmp_path / "record.json"
    record.write_text('{"previous": 1}\n', encoding="utf-8")
    script = ("import sys; sys.path.insert(0, sys.argv[2]); from benchmarks.records import write_record; "
              "write_record(sys.argv[1], 'b', {}, {'x': 'y' * 4096}, 0.0, 0.0)")
    run = run_limited(["-c", script, str(record), str(ROOT)], tmp_path)
    assert run.returncode == 1 and "File too large" in run.stderr, run.stderr[-2000:]
    assert record.read_text(encoding="utf-8") == '{"previous": 1}\n'
    no_temporaries(tmp_path)


class _HalfFigure:
    """A figure whose drawing fails halfway, as ``savefig`` does on a full disk."""

    def savefig(self, path, format=None, **kwargs):
        assert format == "png"  # the temporary's name ends .tmp: the format is said, not guessed from it
        Path(path).write_bytes(b"half")
        raise OSError(28, "No space left on device")


def test_a_figure_that_fails_halfway_leaves_the_previous_image(tmp_path):
    png = tmp_path / "curve.png"
    png.write_bytes(b"previous")
    with pytest.raises(OSError) as raised:
        save_figure(_HalfFigure(), png, dpi=110)
    assert raised.value.filename == str(png) and png.read_bytes() == b"previous" and os.listdir(tmp_path) == ["curve.png"]


def test_a_symbolic_link_is_written_through_and_stays_a_link(tmp_path):
    """The link was replaced by a file, and the file it named kept the old text."""
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "results.json"
    target.write_text("old", encoding="utf-8")
    link = tmp_path / "results.json"
    link.symlink_to(target)
    write_text_atomic(link, "new")
    assert link.is_symlink() and target.read_text(encoding="utf-8") == "new"
    dangling = tmp_path / "later.json"  # a link to a file not yet there, in a folder that is
    dangling.symlink_to(tmp_path / "real" / "later.json")
    write_text_atomic(dangling, "made")
    assert dangling.is_symlink() and (tmp_path / "real" / "later.json").read_text(encoding="utf-8") == "made"


def test_a_name_as_long_as_the_file_system_takes_is_written(tmp_path):
    """The temporary's name was the file's name plus 13 characters: ENAMETOOLONG at the first write of a legal
    250-character name (``run-agent --dashboard-path``)."""
    path = tmp_path / ("d" * 250 + ".json")
    write_text_atomic(path, "{}")
    with replacing(path) as tmp:
        assert len(tmp.name) < 64
        tmp.write_text("{ }", encoding="utf-8")
    assert os.listdir(tmp_path) == [path.name] and path.read_text(encoding="utf-8") == "{ }"


@pytest.mark.parametrize("kind", ["copytree", "safetensors"])
def test_a_full_disk_inside_a_library_is_the_same_one_line(tmp_path, kind):
    """``shutil.copytree`` gathers its failures into a ``shutil.Error`` (an OSError with no errno), and safetensors
    raises ``SafetensorError`` ("... (os error 27)", no OSError): both were long tracebacks."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "weights.bin").write_bytes(b"w" * 4 * LIMIT)
    if kind == "copytree":
        work = f"shutil.copytree({str(src)!r}, {str(tmp_path / 'dst')!r})"
        where = f": {tmp_path / 'dst' / 'weights.bin'}"
    else:
        pytest.importorskip("safetensors")
        pytest.importorskip("numpy")
        work = f"save_file({{'w': numpy.zeros(4096, dtype=numpy.float32)}}, {str(tmp_path / 'w.safetensors')!r})"
        where = ""
    script = ("import shutil, sys, numpy; from drugenv.cli import run_command\n"
              "try:\n    from safetensors.numpy import save_file\nexcept ImportError:\n    pass\n"
              f"sys.exit(run_command('prog', lambda _: {work}, None))")
    run = run_limited(["-c", script], tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.stderr.strip() == (f"prog: error: File too large{where} (a file grew past what the file system takes; "
                                  "write to another disk)"), run.stderr


def test_an_error_that_is_no_disks_keeps_its_traceback(tmp_path):
    import shutil

    with pytest.raises(shutil.Error):
        run_command("prog", lambda _: (_ for _ in ()).throw(shutil.Error([("a", "b", "[Errno 2] No such file")])), None)


@pytest.mark.parametrize("out", ["", "  "])
@pytest.mark.parametrize("directory", [False, True])
def test_an_empty_output_path_is_refused(out, directory):
    """An unset shell variable: ``drugenv train --out ""`` trained into (and first wiped) the default run folder."""
    with pytest.raises(ConfigError, match=f"--out is empty: pass {'a folder' if directory else 'a file path'}"):
        check_output_path(out, "--out", directory=directory)


def test_a_dangling_symbolic_link_is_refused_before_the_work(tmp_path):
    """``eval --out`` ran the whole evaluation and then failed with a traceback; ``train --out`` a FileExistsError."""
    (tmp_path / "to_file").symlink_to(tmp_path / "nowhere" / "r.json")
    (tmp_path / "to_dir").symlink_to(tmp_path / "nowhere" / "deeper")
    with pytest.raises(ConfigError, match=r"is a symbolic link to .*nowhere/r\.json, and .*nowhere does not exist"):
        check_output_path(tmp_path / "to_file", "--out")
    with pytest.raises(ConfigError, match=r"is a symbolic link to .*nowhere/deeper, and .*deeper does not exist"):
        check_output_path(tmp_path / "to_dir", "--out", directory=True)
    with pytest.raises(ConfigError, match=r"to_dir is a symbolic link to .*deeper, which does not exist"):
        check_output_path(tmp_path / "to_dir" / "run", "--out", directory=True)
    (tmp_path / "later").symlink_to(tmp_path / "r.json")  # a file to come, in a folder that is there: written through
    check_output_path(tmp_path / "later", "--out")
