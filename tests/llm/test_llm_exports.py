def test_importing_the_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, drugenv.llm.parsing, drugenv.llm.prompts, drugenv.llm.masks; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
