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

import pytest

from drugenv.extras import uninstalled_extra


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    missing = uninstalled_extra(call.excinfo.value) if call.excinfo is not None and report.failed else None
    if missing is not None:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: needs an extra this install lacks: {missing}")
