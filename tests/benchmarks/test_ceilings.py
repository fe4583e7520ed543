"""`benchmarks/ceilings.py`: the ceilings it measures are of the real core, and the compiled core is the same simulator."""

from __future__ import annotations

import os
import shutil
import sysconfig

import pytest
from benchmark_scripts import load

_CAN_COMPILE = shutil.which(os.environ.get("CC", "cc")) is not None and os.path.exists(
    os.path.join(sysconfig.get_paths()["include"], "Python.h"))
needs_a_compiler = pytest.mark.skipif(not _CAN_COMPILE, reason="building a C extension needs a C compiler and Python.h")


@pytest.fixture(scope="module")
def ceilings():
    return load("ceilings")


@needs_a_compiler
def test_the_compiled_core_plays_the_same_steps_and_leaving_out_seeding_changes_them(ceilings, tmp_path):
    pytest.importorskip("Cython")  # a test dependency (pyproject's test extra); --cython needs it
    compiled = ceilings.build_compiled(("drugenv/simulator/rules.py", "drugenv/simulator/reward.py"), tmp_path)
    results = ceilings.ceilings(steps=300, turn=100, seed=0, compiled_root=compiled)
    as_is, unseeded, cython = (results["summaries"][v] for v in ("as is", "no query seeding", "cython"))
    assert as_is["compiled_modules"] == []
    assert cython["compiled_modules"] == ["drugenv.simulator.reward", "drugenv.simulator.rules"]
    assert cython["checksum"] == as_is["checksum"] and cython["episodes"] == as_is["episodes"] > 0
    # The shared generator reaches the evidence draws: the readouts, and so the rewards, are not the real ones.
    assert unseeded["checksum"] != as_is["checksum"]
    assert results["ratio_to_as_is"]["as is"] == 1.0 and all(r > 0 for r in results["steps_per_s"].values())


@needs_a_compiler
def test_a_compiled_core_that_plays_other_steps_is_refused(ceilings, tmp_path):
    pytest.importorskip("Cython")
    # A copy whose transition charges one credit more per action plays other steps: refused.
    compiled = ceilings.build_compiled(("drugenv/simulator/rules.py",), tmp_path)
    transitions = tmp_path / "drugenv" / "simulator" / "transitions.py"
    source = transitions.read_text(encoding="utf-8")
    assert "book.credits.used += spec.cost\n" in source
    transitions.write_text(source.replace("book.credits.used += spec.cost\n", "book.credits.used += spec.cost + 1\n", 1), encoding="utf-8")
    with pytest.raises(RuntimeError, match="other steps"):
        ceilings.ceilings(steps=200, turn=100, seed=0, compiled_root=compiled)


def test_the_variants_take_turns_and_a_seed_replays_its_steps(ceilings):
    first, second = (ceilings.ceilings(steps=200, turn=50, seed=5) for _ in range(2))
    assert first["summaries"] == second["summaries"] and set(first["summaries"]) == {"as is", "no query seeding"}
    assert first["summaries"]["no query seeding"]["checksum"] != first["summaries"]["as is"]["checksum"]
    assert len(first["turn_ratio_range"]) == 2
