"""``drugenv.simulator.seeding`` gives numpy's own streams, on its shortcuts and on their fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from drugenv.simulator import seeding

SEEDS = (0, 1, 7, 2**31 - 1, 2**32 - 1, 2**32 + 5, 123_456_789_012, 2**100 + 3)


def _draws(rng: np.random.Generator) -> list:
    return [rng.random(), rng.normal(0.0, 0.3), int(rng.integers(1000)), rng.bit_generator.random_raw()]


@pytest.mark.parametrize("shortcuts", [True, False])
def test_streams_equal_default_rng_and_its_children(monkeypatch, shortcuts):
    if not shortcuts:  # numpy's own path, as on a numpy where the import-time checks fail
        monkeypatch.setattr(seeding, "_SEED_SEQUENCE", np.random.SeedSequence)
        monkeypatch.setattr(seeding, "_CHILD_BY_ENTROPY", False)
    for seed in SEEDS:
        assert _draws(seeding.seeded_generator(seed)) == _draws(np.random.default_rng(seed))
        children = np.random.default_rng(seed).spawn(3)
        words = seeding.child_entropy(seed)
        for i in (2, 0, 1):  # built alone, in any order
            assert _draws(seeding.spawned_child(seed, words, i)) == _draws(children[i])


def test_the_shortcuts_are_taken_on_this_numpy():
    """The import-time checks hold here (otherwise the shortcuts' saving is silently gone)."""
    assert seeding._SEED_SEQUENCE is seeding._SeedSequenceNoErrstate
    assert seeding._CHILD_BY_ENTROPY


def test_coverage_seed_is_the_json_seed_for_every_database_an_action_can_name():
    """``evidence._coverage_seed`` writes the JSON text itself; it must hash the bytes ``_stable_seed`` hashes."""
    import typing

    from drugenv.actions import ACTION_TABLE
    from drugenv.scenarios.procedural import BASE_COVERAGE
    from drugenv.simulator import evidence

    named = set(BASE_COVERAGE)
    for action, spec in ACTION_TABLE.items():
        for name in ("database", "source"):
            field = spec.params.model_fields.get(name)
            if field is not None and action in evidence._DB_OF:
                named |= {evidence._DB_OF[action]({name: v}) for v in typing.get_args(field.annotation)}
        if action in evidence._DB_OF and not set(spec.params.model_fields) & {"database", "source"}:
            named.add(evidence._DB_OF[action]({}))
    assert {"GTEx", "CCLE", "PDB", "AlphaFold", "ChEMBL", "ClinicalTrials.gov", "DepMap"} <= named
    for db in sorted(named):
        for seed in SEEDS:
            assert evidence._coverage_seed(seed, db) == evidence._stable_seed(seed, "coverage", db), (seed, db)
    assert evidence._coverage_seed(np.int64(5), "GTEx") == evidence._stable_seed(np.int64(5), "coverage", "GTEx")
