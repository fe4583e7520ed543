"""What a gym wrapper's encoder costs interleaved with the core step, against each timed alone.

How to run::

    python benchmarks/interleave.py                 # text renderer, vector encoder, unrelated work: 20,000 steps each

For each wrapper's encoder (the text env's ``EpisodeText``, the vector env's ``EpisodeFeatures``),
on the steps of ``bench_env.py``'s row for that env (its action stream; the core's episodes), times
in alternating turns of ``--turn`` steps:

- the core alone, lending its records as it does inside the gym env;
- the encoder alone, over the same steps' observations recorded beforehand;
- the two together, step then encode, as the gym env runs them;

and prints ``together / (core + encoder)``. ``--encoder unrelated`` puts Python work that has nothing
to do with the environment in the encoder's place (on the text bench's steps). Instructions do not
depend on the order (cachegrind counts the same per step), but the clock does: on the 2-core AMD
development machine the text renderer and the core took 1.20-1.24 times their sum when interleaved,
the vector encoder 1.06-1.09, and the unrelated work 1.14-1.18 (``docs/performance_history.md``,
"Thirteenth round"). The ratio is steady from run to run even where the machine's speed is not,
because the three are timed turn by turn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np

from bench_env import _cold, _core_actions  # the rows' action streams, decoded for the core; a cold start
from records import check_args


@dataclass
class Args:
    steps: int = 20000
    """Core steps per measurement."""
    turn: int = 500
    """Steps per timed turn; the three are timed in turns, one after another."""
    encoder: Literal["text", "vector", "unrelated", "all"] = "all"
    """Which wrapper's encoder; ``unrelated``: Python work unrelated to the environment in its place
    (how much of the cost any code between two core steps would bring)."""


_UNRELATED = {f"k{i}": [i, i * 0.5, f"v{i}"] for i in range(40)}


def _unrelated_work(_obs: Any) -> int:
    """Python work that has nothing to do with the environment (f-strings and ``json.dumps`` over a
    40-key dict, ~40-55 µs here): what interleaving costs the core whatever runs between its steps."""
    import json

    n = len(json.dumps(_UNRELATED))
    for k, v in _UNRELATED.items():
        n += len(f"{k}={v[0]:.3f}|{v[1]:.2f}|{v[2]}")
    return n


def _encoder(kind: str) -> Callable[[], Callable[[Any], Any]]:
    if kind == "unrelated":
        return lambda: _unrelated_work
    if kind == "text":
        from drugenv.gym_envs.text_env import MAX_OBSERVATION_CHARS
        from drugenv.gym_envs.text_render import EpisodeText

        return lambda: EpisodeText(MAX_OBSERVATION_CHARS)
    from drugenv.gym_envs.vector_env import EpisodeFeatures

    return EpisodeFeatures


def interleave(kind: str, steps: int, turn: int) -> dict[str, float]:
    """µs per step of the core alone, the encoder alone, and the two together (see the module docstring)."""
    from drugenv.simulator.environment import DrugTargetEnvironment

    stream = _core_actions("DrugEnv/Vector-v0" if kind == "vector" else "DrugEnv/Text-v0", steps, 0)
    new_encoder = _encoder(kind)
    # The observations of every turn, recorded (copies: each step's own record) for the encoder alone.
    env = DrugTargetEnvironment()
    turns: list[list[Any]] = [[env.reset(seed=0)]]
    for i in range(steps):
        obs = env.step(stream[i])
        turns[-1].append(obs)
        if obs.done:
            turns[-1].append(env.reset(seed=i + 1))
        if (i + 1) % turn == 0:
            turns.append([])
    alone, together = DrugTargetEnvironment(), DrugTargetEnvironment()
    alone._lend_records = together._lend_records = True  # as the gym env's core does
    alone.reset(seed=0)
    encode_alone, encode_together = new_encoder(), new_encoder()
    encode_together(together.reset(seed=0))
    encode_alone(turns[0][0])
    clock = time.process_time
    t_core = t_encoder = t_together = 0.0
    for k, start in enumerate(range(0, steps, turn)):
        block = range(start, min(start + turn, steps))
        _cold()  # each side draws its episodes' coverage itself
        t0 = clock()
        for i in block:
            if alone.step(stream[i]).done:
                alone.reset(seed=i + 1)
        t_core += clock() - t0
        recorded = turns[k][1:] if k == 0 else turns[k]
        t0 = clock()
        for obs in recorded:
            last_alone = encode_alone(obs)
        t_encoder += clock() - t0
        _cold()
        t0 = clock()
        for i in block:
            obs = together.step(stream[i])
            last_together = encode_together(obs)
            if obs.done:
                last_together = encode_together(together.reset(seed=i + 1))
        t_together += clock() - t0
    # The encoder alone and the one interleaved must have encoded the same observations.
    if not np.array_equal(np.asarray(last_alone), np.asarray(last_together)):
        raise RuntimeError(f"the {kind} encoder alone and interleaved ended on different encodings")
    return {"core": t_core / steps * 1e6, "encoder": t_encoder / steps * 1e6, "together": t_together / steps * 1e6}


def main(args: Args) -> None:
    check_args(args, at_least={"steps": 1, "turn": 1}, outputs=())
    print(f"CPU µs per core step ({args.steps} steps, turns of {args.turn})")
    print(f"{'encoder':<8} {'core':>8} {'encoder':>8} {'sum':>8} {'together':>9} {'together / sum':>15}")
    for kind in (("text", "vector", "unrelated") if args.encoder == "all" else (args.encoder,)):
        r = interleave(kind, args.steps, args.turn)
        total = r["core"] + r["encoder"]
        print(f"{kind:<8} {r['core']:8.1f} {r['encoder']:8.1f} {total:8.1f} {r['together']:9.1f} "
              f"{r['together'] / total:15.3f}")


if __name__ == "__main__":
    import sys

    from records import cli

    sys.exit(cli(main, Args, "interleave.py"))
