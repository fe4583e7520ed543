"""A process that imports other DrugEnv source than the driver that started it stops with a clear
error, instead of mixing two versions of the code into one run (``drugenv.provenance``)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import drugenv
from drugenv import provenance
from drugenv.errors import SourceMismatchError
from drugenv.training.run_files import RunFiles

PACKAGE = Path(drugenv.__file__).resolve().parent


def _copy_package(dst: Path) -> Path:
    shutil.copytree(PACKAGE, dst / "drugenv", ignore=shutil.ignore_patterns("__pycache__"))
    return dst / "drugenv"


def _import_in_child(pythonpath: Path, digest: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != provenance.DIGEST_ENV_VAR}
    env["PYTHONPATH"] = str(pythonpath)
    if digest is not None:
        env[provenance.DIGEST_ENV_VAR] = digest
    # cwd too: ``python -c`` puts the working directory first on sys.path.
    return subprocess.run([sys.executable, "-c", "import drugenv; print(drugenv.__file__)"], env=env,
                          cwd=pythonpath, capture_output=True, text=True, timeout=120)


def test_digest_covers_every_file_and_ignores_bytecode(tmp_path, monkeypatch):
    copy = _copy_package(tmp_path)
    monkeypatch.setattr(provenance, "_PACKAGE_DIR", copy)
    provenance.source_digest.cache_clear()
    try:
        same = provenance.source_digest()
        assert same == provenance.describe()["source_digest"]
        (copy / "__pycache__").mkdir(exist_ok=True)
        (copy / "__pycache__" / "x.pyc").write_bytes(b"bytecode")
        provenance.source_digest.cache_clear()
        assert provenance.source_digest() == same, "bytecode is not source"
        belief = copy / "agents" / "belief.py"
        belief.write_text(belief.read_text(encoding="utf-8") + "\n# an edit made during a run\n", encoding="utf-8")
        provenance.source_digest.cache_clear()
        assert provenance.source_digest() != same
    finally:
        provenance.source_digest.cache_clear()


def test_a_child_importing_another_checkout_stops_with_a_clear_error(tmp_path):
    copy = _copy_package(tmp_path)
    (copy / "agents" / "belief.py").write_text((copy / "agents" / "belief.py").read_text(encoding="utf-8") + "\n# older belief\n", encoding="utf-8")
    driver_digest = provenance.source_digest()
    mixed = _import_in_child(tmp_path, driver_digest)
    assert mixed.returncode != 0
    assert "SourceMismatchError" in mixed.stderr and str(copy) in mixed.stderr and driver_digest in mixed.stderr
    # The same checkout with the same digest imports fine, and so does any checkout when no driver exported one.
    assert _import_in_child(PACKAGE.parent, driver_digest).returncode == 0
    unguarded = _import_in_child(tmp_path, None)
    assert unguarded.returncode == 0 and str(copy) in unguarded.stdout


def test_check_same_source_compares_with_the_exported_digest(monkeypatch):
    monkeypatch.setenv(provenance.DIGEST_ENV_VAR, "0" * 16)
    with pytest.raises(SourceMismatchError, match="0000000000000000"):
        provenance.check_same_source()
    monkeypatch.setenv(provenance.DIGEST_ENV_VAR, provenance.source_digest())
    provenance.check_same_source()
    monkeypatch.delenv(provenance.DIGEST_ENV_VAR)
    provenance.check_same_source()


def test_every_run_records_its_source(tmp_path):
    import json

    RunFiles(tmp_path).start("grpo", {"seed": 3})
    recorded = json.loads((tmp_path / "settings.json").read_text(encoding="utf-8"))
    assert recorded["seed"] == 3 and recorded["code"]["source_digest"] == provenance.source_digest()
    assert "commit" in recorded["code"]


def test_the_version_is_the_same_in_the_package_its_metadata_and_the_openenv_manifest():
    """``drugenv.__version__``, ``pyproject.toml`` and ``openenv.yaml`` each state the version: they agree."""
    import re

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = PACKAGE.parent
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    manifest = re.search(r"^version:\s*(\S+)\s*$", (root / "openenv.yaml").read_text(encoding="utf-8"), re.M)
    assert manifest and drugenv.__version__ == project == manifest.group(1)
