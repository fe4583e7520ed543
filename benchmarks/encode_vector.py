"""The vector env's observation encoding alone: ``vector_features`` (stateless, the shared fold cache)
against ``EpisodeFeatures`` (the vector env's per-episode encoder), on the same observations.

How to run::

    python benchmarks/encode_vector.py                    # CPU time per observation of each, and the ratio
    for m in none old new; do                             # instructions (steadier on a shared box)
      valgrind --tool=cachegrind --cache-sim=no python benchmarks/encode_vector.py --mode $m --episodes 150
    done                                                  # the encoding's count is each minus "none"

Plays ``--episodes`` episodes of uniformly random vector actions (procedural scenarios, the core
environment), keeps every observation, then encodes them all in step order. Results to expect
(docs/performance_history.md, "Twelfth round"): 83,270 and 66,500 instructions per observation
(150 episodes, 591 observations, x0.80); by CPU clock 14.6 and 12.0 us (300 episodes, x0.82).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from records import best_us_per_item, check_args


@dataclass
class Args:
    mode: Literal["time", "old", "new", "none"] = "time"
    """time: both, best of ``--repeats`` each, and the ratio; old / new: encode once with one (for
    cachegrind); none: only play the episodes (cachegrind's baseline)."""
    episodes: int = 600
    """Episodes to play."""
    repeats: int = 5
    """Timed passes per encoder (mode time); the best is reported."""


def observations(episodes: int) -> list:
    from drugenv.gym_envs.vector_env import VECTOR_ACTIONS
    from drugenv.simulator.environment import DrugTargetEnvironment

    rng = np.random.default_rng(0)
    decoded = [a.to_action() for a in VECTOR_ACTIONS]
    out = []
    for k in range(episodes):
        env = DrugTargetEnvironment()
        obs = env.reset(seed=k)
        out.append(obs)
        while not obs.done:
            obs = env.step(decoded[int(rng.integers(len(decoded)))])
            out.append(obs)
    return out


def main(args: Args) -> None:
    check_args(args, at_least={"episodes": 1, "repeats": 1}, outputs=())
    from drugenv.gym_envs.vector_env import EpisodeFeatures, vector_features

    obs_all = observations(args.episodes)
    vector_features(obs_all[0])  # both paths imported and warm
    EpisodeFeatures()(obs_all[0])

    def old() -> None:
        for o in obs_all:
            vector_features(o)

    def new() -> None:
        encode = EpisodeFeatures()
        for o in obs_all:
            encode(o)

    if args.mode in ("old", "new"):
        (old if args.mode == "old" else new)()
    if args.mode != "time":
        print(f"{args.mode}: {len(obs_all)} observations")
        return
    best = best_us_per_item({"vector_features": old, "EpisodeFeatures": new}, len(obs_all), args.repeats)
    print(f"EpisodeFeatures / vector_features: {best['EpisodeFeatures'] / best['vector_features']:.2f}")


if __name__ == "__main__":
    import sys

    from records import cli

    sys.exit(cli(main, Args, "encode_vector.py"))
