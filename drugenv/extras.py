"""Which of DrugEnv's optional extras provides a module, read from the installed package's metadata.

``pyproject.toml``'s ``[project.optional-dependencies]`` is the one place the extras are declared;
pip writes them into the installed package's metadata (``Requires-Dist: ray[...]; extra == "train"``),
and this module reads them back from there, so the command line can turn an ``import ray`` that
fails into ``ray is not installed; install it with: pip install 'drugenv[train]'`` without a second
list of who needs what. A requirement's distribution name is taken as its import name (lower case,
``-`` as ``_``), which holds for every optional dependency DrugEnv lists (``tests/test_extras.py``).
"""

from __future__ import annotations

import functools
import importlib.util
import re
from importlib import metadata
from typing import Optional

from drugenv.errors import DependencyNotInstalled

_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?")
_EXTRA_MARKER = re.compile(r"""\bextra\s*==\s*["']([^"']+)["']""")


def _import_name(distribution: str) -> str:
    return distribution.lower().replace("-", "_").replace(".", "_")


@functools.lru_cache(maxsize=1)
def optional_requirements() -> dict[str, tuple[str, str]]:
    """Import name -> (the requirement's name as listed, e.g. ``ray[rllib,serve,tune]``; the first extra
    that lists it directly), for every optional dependency of the installed ``drugenv`` (empty when
    DrugEnv runs from a source tree that pip never installed: there is no metadata to read)."""
    try:
        requires = metadata.requires("drugenv") or []
    except metadata.PackageNotFoundError:
        return {}
    found: dict[str, tuple[str, str]] = {}
    for line in requires:
        spec, _, marker = line.partition(";")
        extra, name = _EXTRA_MARKER.search(marker), _REQUIREMENT.match(spec)
        if extra is None or name is None or _import_name(name.group(1)) == "drugenv":
            continue  # a core dependency, or an extra that includes other extras
        found.setdefault(_import_name(name.group(1)), (name.group(1) + (name.group(2) or ""), extra.group(1)))
    return found


def missing_extra(error: ModuleNotFoundError, extra: Optional[str] = None) -> Optional[DependencyNotInstalled]:
    """``error`` (a failed import) as ``DependencyNotInstalled`` when the module it could not find is one
    of DrugEnv's optional dependencies, else None (a module missing for another reason stays the error
    it is). ``extra``: the extra the failing command needs as a whole (``drugenv train`` needs all of
    ``train``, not only the extra that lists the module); None names the extra that lists the module."""
    top = (error.name or "").partition(".")[0]
    listed = optional_requirements().get(_import_name(top)) if top else None
    if listed is None:
        return None
    requirement, its_extra = listed
    return DependencyNotInstalled(requirement, extra or its_extra)


def uninstalled_extra(error: BaseException) -> Optional[DependencyNotInstalled]:
    """``missing_extra(error)`` where the module is really not installed here (``find_spec`` finds no
    top-level package), else None: what lets the test suite skip a test that needs an extra this
    install lacks (``tests/conftest.py``), and fail on any other import error."""
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return None
    missing = missing_extra(error)
    if missing is None or importlib.util.find_spec(error.name.partition(".")[0]) is not None:
        return None
    return missing


__all__ = ["missing_extra", "optional_requirements", "uninstalled_extra"]
