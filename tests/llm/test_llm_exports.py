import importlib

import pytest

MODULES = ["checkpoint", "generation", "loading", "masks", "parsing", "policy", "prompts", "run_agent", "sft", "stopping", "tiny"]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_resolves(name):
    mod = importlib.import_module(f"drugenv.llm.{name}")
    assert mod.__all__ == sorted(mod.__all__)
    for symbol in mod.__all__:
        assert hasattr(mod, symbol), symbol


def test_importing_the_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, drugenv.llm.parsing, drugenv.llm.prompts, drugenv.llm.masks; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
