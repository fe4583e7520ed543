"""Which DrugEnv source a process runs, so that one training run never mixes two versions.

A Ray worker (env runner, learner, Tune trial) imports ``drugenv`` afresh, from whatever its
``sys.path`` finds first. A ``PYTHONPATH`` set in one shell, or an editable install that points at
another checkout, makes the workers run different code from the driver, with no error: the run's
numbers then belong to neither version. So the driver exports a digest of its own source before it
starts Ray (``export_to_workers``), every process that imports ``drugenv`` with that digest set
checks its own against it (``check_same_source``, run by ``drugenv/__init__.py``), and results
record the digest and the git commit (``describe``).

The digest covers every file of the package (code and data), so an edit made while a run is going,
then picked up by a worker started later, is caught too.
"""

from __future__ import annotations

import functools
import hashlib
import os
import subprocess
from pathlib import Path
from typing import Dict, Optional

from drugenv.errors import SourceMismatchError

#: Environment variable through which the driver hands its source digest to the processes Ray starts.
DIGEST_ENV_VAR = "DRUGENV_SOURCE_DIGEST"

_PACKAGE_DIR = Path(__file__).resolve().parent


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 (first 16 hex digits) over the relative path and bytes of every file in the package."""
    h = hashlib.sha256()
    for path in sorted(p for p in _PACKAGE_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(path.relative_to(_PACKAGE_DIR).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def export_to_workers() -> str:
    """Put this process's digest where the processes it starts (Ray's raylet and workers) inherit it."""
    os.environ[DIGEST_ENV_VAR] = source_digest()
    return os.environ[DIGEST_ENV_VAR]


def check_same_source() -> None:
    """Raise ``SourceMismatchError`` if a parent process exported a digest that differs from ours."""
    expected = os.environ.get(DIGEST_ENV_VAR)
    if expected and expected != source_digest():
        raise SourceMismatchError(expected=expected, found=source_digest(), location=str(_PACKAGE_DIR))


def _git_commit() -> Optional[str]:
    try:
        out = subprocess.run(["git", "-C", str(_PACKAGE_DIR), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(_PACKAGE_DIR), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None  # not a git checkout (an installed wheel), or no git
    return out + ("-dirty" if dirty else "")


def describe() -> Dict[str, Optional[str]]:
    """What a results file records about the code that made it: the source digest and the git commit
    (``-dirty`` when the package has uncommitted changes; None outside a git checkout)."""
    return {"source_digest": source_digest(), "commit": _git_commit()}


__all__ = ["DIGEST_ENV_VAR", "check_same_source", "describe", "export_to_workers", "source_digest"]
