"""The README's and docs/' examples work as written: every Python example runs in a fresh interpreter,
and every command line parses (``test_every_documented_command_line_parses``, below).

An example that talks to a server (``http://127.0.0.1:8000``) is pointed at a real DrugEnv server on
a free loopback port; nothing else in it is changed. An example that cannot run here says why in an
HTML comment on the line before its fence (``<!-- example not run: needs a model path -->``): a
template with placeholders, a fragment, or a reproduction that needs a trained run's output or
minutes of compute. Such a marker must give its reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator, Optional

import pytest

from drugenv.extras import uninstalled_extra

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXAMPLE = re.compile(r"^(?:<!-- example not run: (?P<why>[^\n]*?) -->\n)?```python\n(?P<code>.*?)^```[ \t]*$", re.S | re.M)
DOCUMENTED_URL = "http://127.0.0.1:8000"


def _examples() -> list[tuple[str, Optional[str], str]]:
    """(``file:line``, the reason it is not run or None, code) for every ```python block."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for m in EXAMPLE.finditer(text):
            line = text.count("\n", 0, m.start("code"))
            found.append((f"{path.relative_to(ROOT)}:{line}", m.group("why"), m.group("code")))
    return found


EXAMPLES = _examples()


def test_every_example_runs_or_says_why_not():
    fences = sum(p.read_text(encoding="utf-8").count("```python\n") for p in DOCS)
    assert len(EXAMPLES) == fences > 0, "a ```python block the pattern missed"
    assert all(why is None or why.strip() for _, why, _ in EXAMPLES)
    assert sum(why is None for _, why, _ in EXAMPLES) >= len(EXAMPLES) // 2, "most examples should run"


def test_every_code_fence_is_a_fence_of_its_own():
    """A closing fence with text after it (```` ``` The lever...````) does not close its block: on GitHub the
    rest of the page, headings and all, rendered as code. Every fence line is an opener (```` ```lang````) or
    a bare closer, and they alternate."""
    for path in DOCS:
        inside = False
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("```"):
                assert re.fullmatch(r"\s*```[\w+-]*\s*", line), f"{path.relative_to(ROOT)}:{number}: {line[:60]!r}"
                opener = line.strip() != "```"
                assert not (inside and opener), f"{path.relative_to(ROOT)}:{number}: a fence opens inside a block"
                inside = not inside
        assert not inside, f"{path.relative_to(ROOT)}: a block is never closed"


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    from drugenv.server.app import create_app
    from drugenv.server.serve import serve_in_thread

    with serve_in_thread(create_app(max_sessions=8)) as url:
        yield url


@pytest.mark.parametrize("where,code", [(w, c) for w, why, c in EXAMPLES if why is None], ids=lambda v: v if ":" in v else "")
def test_example_runs(where, code, request):
    if DOCUMENTED_URL in code:
        code = code.replace(DOCUMENTED_URL, request.getfixturevalue("server_url"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    missing = re.findall(r"^ModuleNotFoundError: No module named '([\w.]+)'$", run.stderr, re.M)
    if run.returncode and missing and (why := uninstalled_extra(ModuleNotFoundError(name=missing[-1]))) is not None:
        pytest.skip(f"needs an extra this install lacks: {why}")
    assert run.returncode == 0, f"{where}:\n{run.stderr[-3000:]}"


# ---------------------------------------------------------------------------------------------- commands
# Every command line the docs show (``drugenv ...``, ``python -m drugenv...``, ``python benchmarks/...``)
# is parsed by the real entry point, which stops once its arguments are read (nothing runs); a
# ``drugenv`` command's own ``check_args`` runs too (``--set`` keys and values against the config,
# ranges, output paths). A renamed flag or config key fails here instead of on a reader's machine. Shell variables take the values below,
# and bash expands each line as a reader's shell would.
SHELL_VALUES = {"run": "grpo_tiny_cpu_long", "suite": "procedural-test:400", "D": "docs/results/performance", "w": "1", "c": "32", "e": "20", "n": "1",
                "DASH": "8265", "OUT": os.path.join(tempfile.gettempdir(), "out"), "PWD": tempfile.gettempdir()}
COMMAND_START = re.compile(r"^(?:[A-Z_]+=\S+\s+)*(?:drugenv\s|python -m drugenv[.\s]|python benchmarks/)|\s--\s+drugenv\s")

PARSE_ONLY = r'''
import argparse, contextlib, io, json, runpy, sys
import tyro

class Parsed(BaseException):
    """Raised once an entry point has read its arguments: the command is not run."""

_cli, _parse_args = tyro.cli, argparse.ArgumentParser.parse_args
def cli(*args, **kwargs):
    _cli(*args, **kwargs)
    raise Parsed
def parse_args(self, *args, **kwargs):
    _parse_args(self, *args, **kwargs)
    raise Parsed
tyro.cli, argparse.ArgumentParser.parse_args = cli, parse_args

import importlib, os
from drugenv.cli import COMMANDS
from drugenv.errors import DrugEnvError
import drugenv.llm.architectures as architectures

# The GPU configs name hub ids whose weights no machine here holds; that a command is refused when its
# hub id is not cached offline is tests/training/test_train_args.py's, not a documented line's.
architectures.is_uncached_hub_id = lambda spec: False

def drugenv(name, rest):
    """``drugenv NAME REST``'s arguments read and checked as ``drugenv.cli.main`` reads them, without the run:
    the command's own ``check_args`` (config keys and values, ranges, output paths) where it has one."""
    module_name, args_name = COMMANDS[name][:2]
    if module_name.startswith("serve."):
        sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    args = _cli(getattr(module, args_name), args=rest, prog=f"drugenv {name}")
    if hasattr(module, "check_args"):
        module.check_args(args)
    raise Parsed

results = []
for argv in json.load(sys.stdin):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            if argv[0] == "drugenv":
                drugenv(argv[1], argv[2:])
            elif argv[:2] == ["python", "-m"]:
                sys.argv = [argv[2], *argv[3:]]
                runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
            else:  # python SCRIPT: the script's folder comes first on sys.path, as `python SCRIPT` puts it
                sys.argv = argv[1:]
                sys.path.insert(0, str(__import__("pathlib").Path(argv[1]).resolve().parent))
                runpy.run_path(argv[1], run_name="__main__")
        results.append("not parsed: the entry point returned without reading its arguments")
    except Parsed:
        results.append(None)
    except SystemExit as e:
        results.append(f"exit {e.code}: {err.getvalue()[-1500:]}")
    except DrugEnvError as e:  # a path the docs name from an earlier run (runs/...) is not there in a checkout
        earlier_output = [a for a in argv if a.startswith("runs/") and not os.path.exists(a) and a in str(e)]
        results.append(None if earlier_output and "does not exist" in str(e) else f"{type(e).__name__}: {e}")
    except ModuleNotFoundError as e:  # the test decides: an optional extra this install lacks, or a defect
        results.append({"missing": e.name, "error": f"ModuleNotFoundError: {e}"})
    except Exception as e:
        results.append(f"{type(e).__name__}: {e}")
print(json.dumps(results))
'''


def _doc_commands() -> list[tuple[str, str]]:
    """(``file:line``, the command line as written, continuation lines joined) of every command in a ```bash block."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"^```bash\n(.*?)^```", text, re.S | re.M):
            first = text.count("\n", 0, m.start(1)) + 1
            lines, i = m.group(1).split("\n"), 0
            while i < len(lines):
                start, line = i, lines[i]
                while line.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    line = line[:-1] + " " + lines[i].strip()
                i += 1
                if not line.lstrip().startswith("#") and COMMAND_START.search(line.strip()):
                    found.append((f"{path.relative_to(ROOT)}:{first + start}", line.strip()))
    return found


def _argv(line: str) -> list[str]:
    """``line`` as bash splits and expands it (``SHELL_VALUES`` set, any other variable an error), from
    the command itself: leading ``NAME=value`` assignments and a ``ray job submit ... --`` wrapper dropped."""
    assign = "".join(f"{k}={v!r}; " for k, v in SHELL_VALUES.items())
    run = subprocess.run(["bash", "-c", f"set -u; {assign}printf '%s\\0' {line}"], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, f"bash could not expand {line!r}: {run.stderr}"
    argv = run.stdout.split("\0")[:-1]
    if "--" in argv and argv[argv.index("--") + 1:][:1] == ["drugenv"]:
        argv = argv[argv.index("--") + 1:]
    while argv and re.fullmatch(r"[A-Z_]+=.*", argv[0]):
        argv = argv[1:]
    return argv


def test_every_documented_command_line_parses():
    commands = _doc_commands()
    assert len(commands) >= 40, f"only {len(commands)} command lines found in the docs' bash blocks"
    argvs = [_argv(line) for _, line in commands]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    run = subprocess.run([sys.executable, "-c", PARSE_ONLY], input=json.dumps(argvs), cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    unverifiable = []  # commands of an extra this install lacks (none where the test extra is installed)
    for i, why in enumerate(results):
        if isinstance(why, dict):
            lacking = uninstalled_extra(ModuleNotFoundError(name=why["missing"])) is not None
            results[i] = None if lacking else why["error"]
            unverifiable += [commands[i][0]] if lacking else []
    failures = [f"{where}: {line}\n  {why}" for (where, line), why in zip(commands, results) if why is not None]
    assert not failures, "\n".join(failures)
    if unverifiable:
        pytest.skip(f"the others parse; {len(unverifiable)} need an extra this install lacks: {', '.join(unverifiable)}")


def test_the_protocol_example_replays():
    """docs/server.md's protocol example: its reset and step frames, played in process, give the reward it
    shows (it showed 0.143333, an earlier environment's reward, long after the reward changed)."""
    from drugenv.models import DrugTargetAction
    from drugenv.simulator.environment import DrugTargetEnvironment

    text = (ROOT / "docs" / "server.md").read_text(encoding="utf-8")
    sent = [json.loads(m) for m in re.findall(r'^-> (\{"type":"(?:reset|step)".*\})$', text, re.M)]
    reset, step = (next(f["data"] for f in sent if f["type"] == kind) for kind in ("reset", "step"))
    shown = [float(r) for r in re.findall(r'^<- \{"type":"observation".*"reward":([-0-9.]+),', text, re.M)]
    assert len(sent) == 2 and len(shown) == 1, (sent, shown)
    env = DrugTargetEnvironment()
    env.reset(**reset)
    assert env.step(DrugTargetAction(**step)).reward == shown[0]


def test_the_grpo_page_names_every_metric_and_metrics_jsonl_column():
    """``docs/grpo.md`` is where the metric keys are listed with their meanings: each key the code logs,
    and each ``metrics.jsonl`` column with where it comes from, is on it (it listed 5 of the 10
    held-out evaluation metrics, and none of the columns)."""
    from drugenv.training import metrics as M

    page = (ROOT / "docs" / "grpo.md").read_text(encoding="utf-8")
    keys = {v for k, v in vars(M).items() if k in M.__all__ and isinstance(v, str) and k != "TRAINING_ITERATION"
            and k != "HELDOUT_PREFIX"}
    keys |= {*M.HELDOUT_EPISODE_MEANS, *M.CURVE_COLUMNS, *M.HELDOUT_CURVE_COLUMNS}
    missing = sorted(k for k in keys if f"`{k}`" not in page)
    assert missing == []


@pytest.mark.parametrize("spec", ["drugenv.simulator.environment:DrugTargetEnvironment",
                                  "drugenv.gym_envs.vector_env:DrugEnvVector", "drugenv.gym_envs.text_env:DrugEnvText"])
def test_the_environments_docstring_examples_run_as_doctests(spec):
    """The environments' docstrings are their spec (cartpole's habit), and their ``>>>`` examples are doctests: the
    gym envs' once ended in a Markdown fence, which doctest read as part of the expected output and failed."""
    import doctest
    import importlib

    module_name, name = spec.split(":")
    module = importlib.import_module(module_name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder(recurse=False).find(getattr(module, name), name, globs=dict(vars(module))):  # as testmod
        runner.run(test)
    assert runner.summarize(verbose=False) == (0, runner.tries) and runner.tries >= 3
