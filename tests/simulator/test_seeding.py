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
