"""How the simulator seeds its random generators: ``np.random.default_rng``'s streams, seeded cheaper.

Every draw in an episode comes from a generator seeded by a number (the episode's world seed, a
query's key, a database's coverage key), so the same episode replays anywhere. Seeding costs more
than the draws it serves (~7 µs: numpy hashes the seed through a ``SeedSequence``, then seeds a
PCG64), and a step or a reset seeds several. This module gives the same streams with less of
numpy's Python around them:

| function | stream | saving |
|---|---|---|
| ``seeded_generator(seed)`` | ``np.random.default_rng(seed)`` | ``generate_state`` without its ``np.errstate`` wrapper, and PCG64's four words hashed in Python integers |
| ``spawned_child(seed, child_entropy(seed), i)`` | child ``i`` of ``np.random.default_rng(seed).spawn(n)`` | the child's entropy as words, not a spawn key numpy converts in Python |
| ``uniform(rng, low, high)``, ``normal(rng, scale)`` | ``rng.uniform(low, high)``, ``rng.normal(0.0, scale)`` | one draw of ``rng.random()`` / ``rng.standard_normal()``, scaled in Python as numpy scales it in C |

The shortcuts rest on how numpy builds a ``SeedSequence``; each is checked against numpy's own
path when this module is imported and replaced by that path where the check fails, so the streams
never change (``tests/simulator/test_golden.py`` pins them).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from drugenv.errors import ConfigError

MAX_SEED = 2**63 - 1
"""The largest episode seed, everywhere: a signed 64-bit integer, what the server's protocol and its
clients in other languages carry. The core refuses above it too, so every episode played in process
replays over the server."""


def validated_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as the int an episode is seeded with: a Python or numpy integer in ``[0, MAX_SEED]``.
    Anything else is a ``ConfigError`` naming it (``int()`` took 1.9 as 1, ``True`` as 1 and ``"7"`` as
    7, so a wrong column in a dataset of episodes played other episodes than it listed, without a word)."""
    if isinstance(seed, (bool, np.bool_)):
        raise ConfigError(f"{name} must be an integer >= 0, got {seed!r} (a bool)")
    try:
        value = operator.index(seed)
    except TypeError:
        raise ConfigError(f"{name} must be an integer >= 0, got {seed!r:.60} ({type(seed).__name__})") from None
    if value < 0:
        raise ConfigError(f"{name} must be an integer >= 0, got {value}")
    if value > MAX_SEED:
        raise ConfigError(f"{name} must be at most 2**63 - 1 (the server's range), got {str(value)[:40]}")  # 9.223e+18 read as the limit itself
    return value


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


_ERRSTATE_FREE = _errstate_free_is_same()
"""Whether ``_SeedSequenceNoErrstate`` may stand for numpy's class (checked once, at import)."""

_MASK32 = 0xFFFFFFFF
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
"""``SeedSequence.generate_state``'s hash constants (numpy's ``bit_generator.pyx``)."""


def _state_hash_constants(n: int) -> tuple[tuple[int, int], ...]:
    # generate_state xors word i with the running constant, steps it (times MULT_B), multiplies by the
    # new one: the constants do not depend on the pool, so each word's pair is fixed.
    consts = [_INIT_B]
    for _ in range(n):
        consts.append((consts[-1] * _MULT_B) & _MASK32)
    return tuple(zip(consts[:-1], consts[1:]))


(_A0, _B0), (_A1, _B1), (_A2, _B2), (_A3, _B3), (_A4, _B4), (_A5, _B5), (_A6, _B6), (_A7, _B7) = _state_hash_constants(8)


class _SeedSequenceForPCG64(_SeedSequenceNoErrstate):
    """A ``SeedSequence`` whose ``generate_state(4, np.uint64)`` (what ``PCG64`` asks for, once per
    generator) hashes the pool in Python integers: numpy's loop sets a numpy array item by item and
    converts the result through two dtypes (~4.7-5.6 µs timed alone here, of a ~7-8 µs seeding); this
    is ~2.6 µs. The same eight
    32-bit words, paired little end first as numpy's ``'<u4'`` to ``'<u8'`` view pairs them. Every
    other request goes to numpy's method. Used only where ``_pcg64_words_are_same()`` holds."""

    def generate_state(self, n_words, dtype=np.uint32):  # type: ignore[override]
        if n_words != 4 or dtype is not np.uint64 or len(self.pool) != 4:
            return _SeedSequenceNoErrstate.generate_state(self, n_words, dtype)
        m = _MASK32
        p0, p1, p2, p3 = self.pool.tolist()
        w0, w1, w2, w3 = ((p0 ^ _A0) * _B0) & m, ((p1 ^ _A1) * _B1) & m, ((p2 ^ _A2) * _B2) & m, ((p3 ^ _A3) * _B3) & m
        w4, w5, w6, w7 = ((p0 ^ _A4) * _B4) & m, ((p1 ^ _A5) * _B5) & m, ((p2 ^ _A6) * _B6) & m, ((p3 ^ _A7) * _B7) & m
        return np.array([(w0 ^ w0 >> 16) | (w1 ^ w1 >> 16) << 32, (w2 ^ w2 >> 16) | (w3 ^ w3 >> 16) << 32,
                         (w4 ^ w4 >> 16) | (w5 ^ w5 >> 16) << 32, (w6 ^ w6 >> 16) | (w7 ^ w7 >> 16) << 32], np.uint64)


def _pcg64_words_are_same() -> bool:
    """Whether ``_SeedSequenceForPCG64`` gives numpy's words for PCG64's request (pools of one-word,
    several-word and spawned seeds)."""
    if not _ERRSTATE_FREE:
        return False
    for entropy in (0, 7, 2**32 - 1, 2**32 + 5, 2**100 + 3, 2**127 + 2**64 + 1):
        for spawn_key in ((), (0,), (3, 1)):
            plain, fast = _SeedSequence(entropy, spawn_key=spawn_key), _SeedSequenceForPCG64(entropy, spawn_key=spawn_key)
            words = fast.generate_state(4, np.uint64)
            if words.dtype != np.uint64 or not np.array_equal(plain.generate_state(4, np.uint64), words):
                return False
    return True


_SEED_SEQUENCE = (_SeedSequenceForPCG64 if _pcg64_words_are_same()
                  else _SeedSequenceNoErrstate if _ERRSTATE_FREE else _SeedSequence)
"""The ``SeedSequence`` class the simulator seeds with: the same pools and words either way."""


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return low + (high - low) * rng.random()


def _normal(rng: np.random.Generator, scale: float) -> float:
    return 0.0 + scale * rng.standard_normal()  # numpy's loc + scale * z: 0.0 + -0.0 is 0.0, as numpy gives


def _scalar_draws_are_same() -> bool:
    """Whether ``_uniform`` and ``_normal`` give numpy's own ``uniform`` and ``normal(0.0, scale)`` values
    (numpy computes ``low + (high - low) * d`` and ``loc + scale * z`` in C; a build that fused the
    multiply-add would round differently, and then numpy's methods are used)."""
    for low, high, scale in ((0.0, 1.0, 1.0), (1500, 8000, 0.3), (-1.5, -0.9, 0.02), (0.62, 0.8, 0.0)):
        a, b = np.random.default_rng(11), np.random.default_rng(11)
        for _ in range(500):
            if a.uniform(low, high) != _uniform(b, low, high) or a.normal(0.0, scale) != _normal(b, scale):
                return False
    return True


if _scalar_draws_are_same():
    uniform, normal = _uniform, _normal
else:  # pragma: no cover - a numpy build whose C arithmetic rounds differently
    def uniform(rng: np.random.Generator, low: float, high: float) -> float:
        return rng.uniform(low, high)

    def normal(rng: np.random.Generator, scale: float) -> float:
        return rng.normal(0.0, scale)

uniform.__doc__ = """``rng.uniform(low, high)`` for Python int or float bounds with ``low <= high``: the same draw
and value (``rng.random()``'s double scaled as numpy scales it), ~0.7 us against ~1.9 (numpy parses and broadcasts
its arguments). Unlike numpy it does not check the bounds: the simulator passes literals."""
normal.__doc__ = """``rng.normal(0.0, scale)`` for a Python float ``scale >= 0``: the same draw and value, the sign
of a zero included (``0.0 + scale * rng.standard_normal()``), ~0.7 us against ~1.9. Unlike numpy it does not
check the scale."""


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


__all__ = ["child_entropy", "normal", "seeded_generator", "spawned_child", "uniform"]
