"""DrugEnv as a user installs it: without the extras, and on the other Pythons it supports.

``pyproject.toml`` promises Python >= 3.10 and a core install (``pip install drugenv``: the
environment, the gym envs, the baselines, ``drugenv eval``) that needs none of torch, Ray or FastAPI.
The rest of the suite runs in the full ``test`` install on one Python, so these tests build real
virtual environments from a copy of this checkout (``pip install``, from the package index pip is
configured with) and use them as a user would:

- the core install, on this Python: an episode in the core env and the gym envs, ``drugenv eval``,
  and every command that needs an extra saying which one in one line;
- the ``server`` install on each other supported Python found (``python3.10``, ``python3.12``,
  ``python3.13`` on ``PATH``, or installed by pyenv): the environment's part of the suite (simulator, scenarios, gym
  envs, server, agents, errors), whose tests for packages that install lacks skip (``conftest.py``);
- the same at the lowest versions ``pyproject.toml`` allows (uv's ``--resolution lowest-direct``: pydantic 2.6,
  numpy 1.26, gymnasium 1.0, fastapi 0.132...) on the lowest supported Python, so that a lower bound is a fact: a
  user whose environment already holds an old release gets it.

A Python that is not found is skipped, and says so.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import venv
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
OTHER_PYTHONS = ("3.10", "3.12", "3.13")
"""Supported versions besides the one CI's own install runs (``requires-python = ">=3.10"``)."""
SUITE_PART = ["tests/simulator", "tests/scenarios", "tests/gym_envs", "tests/server", "tests/agents",
              "tests/test_errors.py", "tests/test_extras.py"]
"""The environment's part of the suite: what a ``server`` install can run."""
TEST_TOOLS = ["pytest>=8", "pytest-timeout>=2.3", "hypothesis>=6.100"]
LOWEST_PYTHON = "3.10"
"""``requires-python``'s lowest, where the lowest numpy (1.26) has wheels."""


def _find_python(version: str) -> Optional[str]:
    """An interpreter of ``version`` that runs: ``pythonX.Y`` on ``PATH`` (a pyenv shim there fails
    unless that version is selected), else one that pyenv installed."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{version}")] + sorted(glob.glob(str(root / "versions" / f"{version}.*" / "bin" / f"python{version}")))
    for python in filter(None, candidates):
        probe = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return python
    return None


def _copy_checkout(dst: Path) -> Path:
    """The checkout's files (tracked, and untracked ones git does not ignore) copied to ``dst``: pip
    builds a local project in place, and must not leave its build folders in this checkout."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    return dst


def _venv(python: str, where: Path, project: Path, spec: str, *extra_packages: str) -> Path:
    """A fresh virtual environment made by ``python`` with ``project`` installed as ``spec`` (e.g. ``.[server]``)."""
    if python == sys.executable:
        venv.create(where, with_pip=True)
    else:
        subprocess.run([python, "-m", "venv", str(where)], check=True, timeout=300)
    py = where / "bin" / "python"
    run = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", spec, *extra_packages],
                         cwd=project, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    return py


def _env() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    return {**keep, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.mark.slow
def test_the_core_install_plays_episodes_and_names_the_extra_each_command_needs(tmp_path):
    project = _copy_checkout(tmp_path / "src")
    py = _venv(sys.executable, tmp_path / "venv", project, ".")
    bin_dir = py.parent
    absent = subprocess.run([str(py), "-c", "import importlib.util as u; print([m for m in "
                             "('torch', 'ray', 'fastapi', 'transformers') if u.find_spec(m)])"],
                            capture_output=True, text=True, env=_env(), cwd=tmp_path)
    assert absent.stdout.strip() == "[]", "the core install pulled in an extra's package: " + absent.stdout
    play = ("import gymnasium as gym, drugenv.gym_envs\n"
            "from drugenv import DrugTargetEnvironment\n"
            "from drugenv.agents.baselines import HeuristicPolicy\n"
            "env, agent = DrugTargetEnvironment(), HeuristicPolicy()\n"
            "obs = env.reset(seed=3, scenario='egfr_nsclc_viable')\n"
            "while not obs.done:\n    obs = env.step(agent.act([obs])[0])\n"
            "print(env.outcome().termination_reason)\n"
            "for env_id in ('DrugEnv/Vector-v0', 'DrugEnv/Text-v0'):\n"
            "    e = gym.make(env_id); e.reset(seed=0); e.step(e.action_space.sample())\n")
    run = subprocess.run([str(py), "-c", play], capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "report_submitted", run.stderr[-3000:]
    evaluation = subprocess.run([str(bin_dir / "drugenv"), "eval", "--agent", "heuristic", "--episodes", "1"],
                                capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=300)
    assert evaluation.returncode == 0 and "ALL" in evaluation.stdout, evaluation.stderr[-3000:]
    for argv, line in [
        (["serve-env", "--port", "0"], "drugenv serve-env: error: fastapi is not installed; install it with: pip install 'drugenv[server]'"),
        (["train", str(project / "rllib_configs" / "grpo_tiny_cpu.py")],
         "drugenv train: error: ray[rllib,serve,tune] is not installed; install it with: pip install 'drugenv[train]'"),
        (["run-agent", "--episodes", "1"], "drugenv run-agent: error: torch is not installed; install it with: pip install 'drugenv[llm]'"),
        (["eval", "--agent", "hf", "--model", "tiny", "--episodes", "1"],
         "drugenv eval: error: torch is not installed; install it with: pip install 'drugenv[llm]'"),
    ]:
        cmd = subprocess.run([str(bin_dir / "drugenv"), *argv], capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=300)
        assert cmd.returncode == 2 and cmd.stderr.strip().splitlines() == [line], (argv, cmd.stderr[-3000:])


def _lowest_venv(python: str, where: Path, project: Path, spec: str, *extra_packages: str) -> Path:
    """``_venv``, but every requirement listed (``spec``'s and ``extra_packages``) at the lowest version it allows,
    as uv resolves them (pip has no such resolution): uv is installed into the environment to do it."""
    subprocess.run([python, "-m", "venv", str(where)], check=True, timeout=300)
    py = where / "bin" / "python"
    for argv in ([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "uv"],
                 [str(py), "-m", "uv", "pip", "install", "-q", "--python", str(py), "--resolution", "lowest-direct",
                  spec, *extra_packages]):
        run = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    return py


def _suite_part_on(profile: str, where: Path) -> Optional[subprocess.CompletedProcess]:
    """The environment's part of the suite, run by a ``server`` install of ``profile`` (a Python version, or
    ``lowest``: the lowest versions of everything on the lowest Python); None: no such Python."""
    python = _find_python(LOWEST_PYTHON if profile == "lowest" else profile)
    if python is None:
        return None
    project = _copy_checkout(where / "src")
    make = _lowest_venv if profile == "lowest" else _venv
    py = make(python, where / "venv", project, ".[server]", *TEST_TOOLS)
    return subprocess.run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITE_PART], cwd=project,
                          capture_output=True, text=True, env=_env(), timeout=1500)


@pytest.fixture(scope="module")
def suite_part_runs(request, tmp_path_factory) -> Iterator[dict[str, Future]]:
    """The other Pythons' runs, started together for every version this session runs the test for. Each runs
    apart from the others (a copy of the checkout, a venv, a pytest process of its own), and its suite mostly
    waits (on the server tests' servers and timeouts: ~33 s of CPU in ~73 s), so on 2 cores the three took
    117 s side by side against 282 s one after another."""
    versions = [item.callspec.params["version"] for item in request.session.items
                if item.originalname == "test_the_environments_part_of_the_suite_passes_on_another_python"]
    if any(item.originalname == "test_the_environments_part_of_the_suite_passes_at_the_lowest_versions"
           for item in request.session.items):
        versions.append("lowest")
    with ThreadPoolExecutor(max_workers=max(1, len(versions))) as pool:
        yield {v: pool.submit(_suite_part_on, v, tmp_path_factory.mktemp(f"python{v}")) for v in versions}


@pytest.mark.slow
@pytest.mark.parametrize("version", OTHER_PYTHONS)
def test_the_environments_part_of_the_suite_passes_on_another_python(version, suite_part_runs):
    run = suite_part_runs[version].result()
    if run is None:
        pytest.skip(f"no working python{version} on PATH or under pyenv")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1], run.stdout[-2000:]


@pytest.mark.slow
def test_the_environments_part_of_the_suite_passes_at_the_lowest_versions(suite_part_runs):
    """At the lowest-direct resolution, fastapi 0.110-0.131 read a body with no Content-Type as JSON (the server
    promises a 422) and pydantic before 2.10 printed a warning before run-agent's one-line error."""
    run = suite_part_runs["lowest"].result()
    if run is None:
        pytest.skip(f"no working python{LOWEST_PYTHON} on PATH or under pyenv")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1], run.stdout[-2000:]
