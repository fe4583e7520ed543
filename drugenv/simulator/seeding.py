"""How the simulator seeds its random generators: ``np.random.default_rng``'s streams, seeded cheaper.

Every draw in an episode comes from a generator seeded by a number (the episode's world seed, a
query's key, a database's coverage key), so the same episode replays anywhere. Seeding costs more
than the draws it serves (~7 µs: numpy hashes the seed through a ``SeedSequence``, then seeds a
PCG64), and a step or a reset seeds several. This module gives the same streams with less of
numpy's Python around them:

| function | stream | saving |
|---|---|---|
| ``seeded_generator(seed)`` | ``np.random.default_rng(seed)`` | ``generate_state`` without its ``np.errstate`` wrapper |
| ``spawned_child(seed, child_entropy(seed), i)`` | child ``i`` of ``np.random.default_rng(seed).spawn(n)`` | the child's entropy as words, not a spawn key numpy converts in Python |

Both shortcuts rest on how numpy builds a ``SeedSequence``; each is checked against numpy's own
path when this module is imported and replaced by that path where the check fails, so the streams
never change (``tests/simulator/test_golden.py`` pins them).
"""

from __future__ import annotations

import numpy as np

_SeedSequence, _PCG64, _Generator = np.random.SeedSequence, np.random.PCG64, np.random.Generator


class _SeedSequenceNoErrstate(_SeedSequence):
    """A ``SeedSequence`` whose ``generate_state`` runs without numpy's ``np.errstate(over="ignore")``
    wrapper (entering and leaving it is ~6 k instructions, ~0.5 µs, per generator seeded): the method
    hashes the pool in C unsigned integers, so there is no overflow for the wrapper to silence, and the
    same pool gives the same words. Used only where ``_errstate_free_is_same()`` holds."""

    generate_state = getattr(_SeedSequence.generate_state, "__wrapped__", _SeedSequence.generate_state)


def _errstate_free_is_same() -> bool:
    """Whether this numpy's unwrapped ``generate_state`` gives the wrapped one's words and raises nothing
    with every floating-point error turned into an exception (so the wrapper had nothing to do)."""
    try:
        with np.errstate(all="raise"):
            for seed in (0, 7, 2**32 + 5, 2**100 + 3):
                plain, free = _SeedSequence(seed), _SeedSequenceNoErrstate(seed)
                for n, dtype in ((4, np.uint64), (8, np.uint32)):
                    if not np.array_equal(plain.generate_state(n, dtype), free.generate_state(n, dtype)):
                        return False
    except FloatingPointError:
        return False
    return True


_SEED_SEQUENCE = _SeedSequenceNoErrstate if _errstate_free_is_same() else _SeedSequence
"""The ``SeedSequence`` class the simulator seeds with: the same pools and words either way."""


def seeded_generator(seed: int) -> np.random.Generator:
    """``np.random.default_rng(seed)``: the same stream, seeded through ``_SEED_SEQUENCE``."""
    return _Generator(_PCG64(_SEED_SEQUENCE(seed)))


_POOL_SIZE = 4
"""``SeedSequence``'s default pool size, in 32-bit words."""


def child_entropy(seed: int) -> list[int]:
    """The words that ``SeedSequence(seed, spawn_key=(i,))`` hashes into its pool, but for ``i`` last:
    the seed's 32-bit words (least significant first; one word for 0), zero-padded to the pool size.

    ``SeedSequence(np.array([*words, i], np.uint32))`` hashes the same words into the same pool, so it
    gives the same stream as the child with spawn key ``(i,)`` (checked at import: ``_CHILD_BY_ENTROPY``),
    and costs ~1.5 µs instead of ~3.5: numpy converts a spawn key in Python, an entropy array not at all.
    """
    words = [seed & 0xFFFFFFFF]
    seed >>= 32
    while seed:
        words.append(seed & 0xFFFFFFFF)
        seed >>= 32
    words.extend([0] * (_POOL_SIZE - len(words)))
    return words


def _child_by_entropy_matches() -> bool:
    """Whether this numpy's SeedSequence pools ``child_entropy`` words as it pools a spawn key (and gives
    the same words from them)."""
    for seed in (0, 7, 2**32 - 1, 2**32 + 5, 2**100 + 3):
        for i in (0, 1, 2):
            spawned = _SeedSequence(seed, spawn_key=(i,))
            direct = _SEED_SEQUENCE(np.array([*child_entropy(seed), i], dtype=np.uint32))
            if not (np.array_equal(spawned.pool, direct.pool)
                    and np.array_equal(spawned.generate_state(4, np.uint64), direct.generate_state(4, np.uint64))):
                return False
    return True


_CHILD_BY_ENTROPY = _child_by_entropy_matches()
"""False would mean numpy assembles a child's entropy differently; ``spawned_child`` then builds the child by its key."""


def spawned_child(seed: int, words: list[int], i: int) -> np.random.Generator:
    """Child ``i`` of ``np.random.default_rng(seed).spawn(n)`` (n > i), built alone: the same stream.
    ``words`` is ``child_entropy(seed)`` (computed once for a seed's children)."""
    if not _CHILD_BY_ENTROPY:
        return _Generator(_PCG64(_SeedSequence(seed, spawn_key=(i,))))
    return _Generator(_PCG64(_SEED_SEQUENCE(np.array([*words, i], dtype=np.uint32))))


__all__ = ["child_entropy", "seeded_generator", "spawned_child"]
