"""`benchmarks/ceilings.py`: the ceilings it measures are of the real core, and the compiled core is the same simulator."""

from __future__ import annotations

import pytest
from benchmark_scripts import load


@pytest.fixture(scope="module")
def ceilings():
    return load("ceilings")


def test_the_compiled_core_plays_the_same_steps_and_leaving_out_seeding_changes_them(ceilings, tmp_path):
    pytest.importorskip("Cython")  # a test dependency (pyproject's test extra); --cython needs it
    compiled = ceilings.build_compiled(("drugenv/simulator/rules.py", "drugenv/simulator/reward.py"), tmp_path)
    results = ceilings.ceilings(steps=300, repeats=1, seed=0, compiled_root=compiled)
    as_is, unseeded, cython = (results["runs"][v][0] for v in ("as is", "no query seeding", "cython"))
    assert as_is["compiled_modules"] == [] and cython["compiled_modules"] == ["drugenv.simulator.reward", "drugenv.simulator.rules"]
    assert cython["checksum"] == as_is["checksum"] and cython["episodes"] == as_is["episodes"]
    # The shared generator reaches the evidence draws: the readouts, and so the rewards, are not the real ones.
    assert unseeded["checksum"] != as_is["checksum"]
    assert set(results["ratio_to_as_is"]) == {"as is", "no query seeding", "cython"}
    assert results["ratio_to_as_is"]["as is"] == 1.0 and all(r > 0 for r in results["steps_per_s"].values())


def test_a_compiled_core_that_plays_other_steps_is_refused(ceilings, monkeypatch, tmp_path):
    measure = ceilings.measure

    def other_steps(variant, steps, seed, package_root=None):
        run = measure("as is", steps, seed)
        return {**run, "compiled_modules": ["drugenv.simulator.rules"], "checksum": "0" * 16} if variant == "cython" else run

    monkeypatch.setattr(ceilings, "measure", other_steps)
    with pytest.raises(RuntimeError, match="other steps"):
        ceilings.ceilings(steps=50, repeats=1, seed=0, compiled_root=tmp_path)


def test_the_same_seed_plays_the_same_steps_in_two_processes(ceilings):
    first, second = (ceilings.measure("as is", 200, seed=5) for _ in range(2))
    assert first["checksum"] == second["checksum"] and first["episodes"] == second["episodes"] > 0
