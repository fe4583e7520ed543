"""``drugenv.simulator.seeding`` gives numpy's own streams, on its shortcuts and on their fallbacks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from drugenv.simulator import seeding

SEEDS = (0, 1, 7, 2**31 - 1, 2**32 - 1, 2**32 + 5, 123_456_789_012, 2**100 + 3)


def _draws(rng: np.random.Generator) -> list:
    return [rng.random(), rng.normal(0.0, 0.3), int(rng.integers(1000)), rng.bit_generator.random_raw()]


@pytest.mark.parametrize("shortcuts", ["all", "errstate only", "none"])
def test_streams_equal_default_rng_and_its_children(monkeypatch, shortcuts):
    if shortcuts == "errstate only":  # as on a numpy whose PCG64 words check fails
        monkeypatch.setattr(seeding, "_SEED_SEQUENCE", seeding._SeedSequenceNoErrstate)
    if shortcuts == "none":  # numpy's own path, as on a numpy where the import-time checks fail
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
    assert seeding._SEED_SEQUENCE is seeding._SeedSequenceForPCG64
    assert seeding._CHILD_BY_ENTROPY
    assert seeding.uniform is seeding._uniform and seeding.normal is seeding._normal


@pytest.mark.parametrize("seed", SEEDS)
def test_scalar_draws_are_numpys(seed):
    """``uniform`` and ``normal`` leave the generator where numpy's methods do, with the same values,
    for the bounds and scales the simulator uses (ints and floats, a zero scale included)."""
    ours, numpys = np.random.default_rng(seed), np.random.default_rng(seed)
    for low, high in ((1500, 8000), (0.25, 0.4), (-1.5, -0.9), (5, 30), (0.0, 0.35)):
        for _ in range(200):
            x, y = seeding.uniform(ours, low, high), numpys.uniform(low, high)
            assert x == y and type(x) is float
    for scale in (0.02, 0.3, 1.0, 7.5, 0.0):
        for _ in range(200):
            x, y = seeding.normal(ours, scale), numpys.normal(0.0, scale)
            assert x == y and math.copysign(1.0, x) == math.copysign(1.0, y) and type(x) is float
    assert ours.bit_generator.state == numpys.bit_generator.state


@pytest.mark.parametrize("seed", SEEDS)
def test_pcg64_words_in_python_integers_are_numpys(seed):
    """The words PCG64 asks for are hashed in Python; every other request is numpy's own."""
    for spawn_key in ((), (2,)):
        plain = np.random.SeedSequence(seed, spawn_key=spawn_key)
        fast = seeding._SeedSequenceForPCG64(seed, spawn_key=spawn_key)
        words = fast.generate_state(4, np.uint64)
        assert words.dtype == np.uint64 and words.tolist() == plain.generate_state(4, np.uint64).tolist()
        for n, dtype in ((4, np.uint32), (8, np.uint64), (3, np.uint64), (1, np.uint32)):
            assert fast.generate_state(n, dtype).tolist() == plain.generate_state(n, dtype).tolist()
    big_pool = seeding._SeedSequenceForPCG64(seed, pool_size=8)
    assert big_pool.generate_state(4, np.uint64).tolist() == np.random.SeedSequence(seed, pool_size=8).generate_state(4, np.uint64).tolist()


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


def test_a_database_holds_data_in_an_episode_with_the_probability_of_its_coverage():
    """Coverage is drawn once per (episode, database): across episodes TCGA is missing about as often as
    1 - coverage says, overall and among the well-covered episodes, not in all episodes of a coverage or in none."""
    import numpy as np

    from drugenv.simulator.environment import DrugTargetEnvironment

    env = DrugTargetEnvironment()
    coverage, missing = [], []
    for seed in range(400):
        env.reset(seed=seed)
        coverage.append(env._latent.quality.database_coverage.get("TCGA", 1.0))  # hidden: read here to check the draw
        missing.append(env.step({"action_type": "query_expression", "parameters": {"database": "TCGA"}}).latest_output.status == "no_data")
    c, m = np.array(coverage), np.array(missing)
    assert abs(m.mean() - (1 - c).mean()) < 0.05
    well = c >= 0.9
    assert well.sum() > 100 and abs(m[well].mean() - (1 - c[well]).mean()) < 0.05 and 0 < m[well].mean() < 1
