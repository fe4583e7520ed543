"""`drugenv COMMAND --help` as a reader meets it: within 80 columns, each option's help a paragraph."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from drugenv.cli import COMMANDS


def _help(command: str, columns: int) -> str:
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"}
    run = subprocess.run([sys.executable, "-m", "drugenv.cli", command, "--help"], capture_output=True, text=True,
                         env=env, timeout=300)
    if run.returncode == 2 and "is not installed" in run.stderr:
        pytest.skip(run.stderr.strip())
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_fits_80_columns(command):
    too_wide = [line for line in _help(command, 80).splitlines() if len(line) > 80]
    assert too_wide == [], too_wide


def test_an_options_help_is_one_paragraph_however_its_docstring_is_wrapped():
    """tyro kept every line break of a docstring written over several lines, so `--help` broke lines where the
    source does (mid-sentence at any width but the source's)."""
    text = _help("eval", 1000)
    assert "(a `drugenv.Policy` subclass, instance or a function returning one;" in text
    assert "Default: each seed's own tier, one of easy / medium / hard." in text
