"""An install without an extra: a command that needs it says which extra to install, in one line.

``drugenv.extras`` reads the extras from the installed package's metadata; these tests check that
reading against ``pyproject.toml`` and play each command with its dependency blocked
(an import finder that raises for them, as an install without them would).
``tests/test_install_profiles.py`` does the same on real installs without the extras.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from drugenv.errors import DependencyNotInstalled
from drugenv.extras import missing_extra, optional_requirements

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_extras() -> dict[str, list[str]]:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]


def test_every_optional_dependency_is_found_under_the_first_extra_that_lists_it():
    expected: dict[str, str] = {}
    for extra, requirements in _pyproject_extras().items():
        for req in requirements:
            name = re.match(r"[A-Za-z0-9._-]+", req).group(0)
            if name != "drugenv":
                expected.setdefault(name.lower().replace("-", "_"), extra)
    found = optional_requirements()
    assert {module: extra for module, (_, extra) in found.items()} == expected
    assert found["ray"] == ("ray[rllib,serve,tune]", "train") and found["torch"] == ("torch", "llm")


def test_an_optional_dependencys_distribution_name_is_its_import_name():
    # The lookup takes one for the other; where the test extra is installed, each must import by that name.
    missing = [m for m in optional_requirements() if importlib.util.find_spec(m) is None]
    installed_test_extra = importlib.util.find_spec("hypothesis") is not None and importlib.util.find_spec("openenv") is not None
    if installed_test_extra:
        assert missing == [] or missing == ["uvloop"] and sys.platform == "win32", missing


def test_a_missing_optional_module_names_its_extra_and_nothing_else_does():
    ray = ModuleNotFoundError("No module named 'ray'", name="ray.rllib")
    err = missing_extra(ray)
    assert isinstance(err, DependencyNotInstalled) and isinstance(err, ImportError)
    assert str(err) == "ray[rllib,serve,tune] is not installed; install it with: pip install 'drugenv[train]'"
    # a command that needs a whole extra asks for that extra
    assert str(missing_extra(ModuleNotFoundError(name="torch"), "train")).endswith("pip install 'drugenv[train]'")
    assert str(missing_extra(ModuleNotFoundError(name="torch"))).endswith("pip install 'drugenv[llm]'")
    # a module DrugEnv does not list is not a missing extra: the import error stays what it is
    assert missing_extra(ModuleNotFoundError(name="no_such_module")) is None
    assert missing_extra(ModuleNotFoundError(name="drugenv.nope")) is None
    assert missing_extra(ModuleNotFoundError("no name")) is None


_BLOCKER = """
import sys

class Uninstalled:  # finds the blocked packages nowhere, as an install without them would
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Uninstalled())
"""


def _cli_without(blocked: list[str], *argv: str) -> subprocess.CompletedProcess:
    code = (f"BLOCKED = {blocked!r}\n{_BLOCKER}\n"
            "from drugenv.cli import main\n"
            f"sys.exit(main({list(argv)!r}))\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("blocked,argv,line", [
    (["ray"], ["train", "rllib_configs/grpo_tiny_cpu.py"], "drugenv train: error: ray[rllib,serve,tune] is not installed; install it with: pip install 'drugenv[train]'"),
    (["ray"], ["serve", "--checkpoint", "runs/x"], "drugenv serve: error: ray[rllib,serve,tune] is not installed; install it with: pip install 'drugenv[train]'"),
    (["torch"], ["run-agent", "--episodes", "1", "--quiet"], "drugenv run-agent: error: torch is not installed; install it with: pip install 'drugenv[llm]'"),
    (["torch"], ["eval", "--agent", "hf", "--model", "tiny", "--episodes", "1"], "drugenv eval: error: torch is not installed; install it with: pip install 'drugenv[llm]'"),
    (["fastapi"], ["serve-env", "--port", "0"], "drugenv serve-env: error: fastapi is not installed; install it with: pip install 'drugenv[server]'"),
    (["anyio"], ["dashboard", "--port", "8050"], "drugenv dashboard: error: anyio is not installed; install it with: pip install 'drugenv[dashboard]'"),
], ids=lambda v: " ".join(v)[:40] if isinstance(v, list) else None)
def test_a_command_whose_extra_is_missing_says_which_to_install(blocked, argv, line):
    run = _cli_without(blocked, *argv)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert run.stderr.strip().splitlines() == [line]


def test_a_module_missing_for_another_reason_keeps_its_traceback(tmp_path):
    # A defect (DrugEnv importing something it never declared) must not read as a user's missing extra.
    from drugenv.cli import run_command

    def broken(_args):
        import no_such_module_drugenv_never_declared  # noqa: F401

    with pytest.raises(ModuleNotFoundError, match="no_such_module_drugenv_never_declared"):
        run_command("drugenv x", broken, None, extra="train")


def test_only_a_module_that_is_really_not_installed_counts_as_an_uninstalled_extra(monkeypatch):
    from drugenv import extras

    ray = ModuleNotFoundError(name="ray.rllib")
    installed = importlib.util.find_spec("ray") is not None
    assert (extras.uninstalled_extra(ray) is None) == installed  # here: ray comes with the test extra, or it does not
    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda name: None)
    assert str(extras.uninstalled_extra(ray)).endswith("pip install 'drugenv[train]'")
    assert extras.uninstalled_extra(ModuleNotFoundError(name="no_such_module")) is None
    assert extras.uninstalled_extra(ImportError("cannot import name x")) is None
