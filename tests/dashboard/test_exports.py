import importlib

import pytest

MODULES = ["drugenv.dashboard", "drugenv.dashboard.app", "drugenv.dashboard.cli", "drugenv.dashboard.episodes",
           "drugenv.dashboard.evidence", "drugenv.dashboard.runs", "drugenv.dashboard.sweeps"]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_resolves(name):
    module = importlib.import_module(name)
    assert module.__all__ == sorted(module.__all__)
    for member in module.__all__:
        assert getattr(module, member) is not None
