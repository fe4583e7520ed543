"""The suite on an install without every extra: a test that needs a package this install lacks is skipped.

CI installs everything (``scripts/setup.sh``: the ``test`` extra), where nothing here fires. On a
smaller install (``pip install -e '.[server]'`` on a laptop, another Python), a test that fails
because an import of one of DrugEnv's optional dependencies found nothing is reported as skipped,
naming the extra to install, instead of as a failure. Only a missing *optional dependency* counts
(``drugenv.extras``, read from the package's metadata) and only where it is really not installed;
any other import error fails as before. Modules that import an extra at the top skip themselves
with ``pytest.importorskip``.
"""

from __future__ import annotations

import importlib.util
from typing import Optional

import pytest

from drugenv.extras import missing_extra


def _not_installed(error: BaseException) -> Optional[str]:
    """The skip reason when ``error`` is an import of an optional dependency that is not installed."""
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return None
    missing = missing_extra(error)
    if missing is None or importlib.util.find_spec(error.name.partition(".")[0]) is not None:
        return None
    return f"needs an extra this install lacks: {missing}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    reason = _not_installed(call.excinfo.value) if call.excinfo is not None and report.failed else None
    if reason is not None:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {reason}")
