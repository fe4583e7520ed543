"""The server's observation text alone: ``observation_data`` (pydantic serializes the whole observation
every step) against ``EpisodeObservationData`` (each session's encoder: a record's JSON made once, when
filed), on the same observations, checked equal text for text.

How to run::

    python benchmarks/encode_observation.py                 # CPU time per observation of each, and the ratio
    python benchmarks/encode_observation.py --long          # episodes that run to their end, as an LLM agent's can

Plays ``--episodes`` episodes with ``bench_server.py``'s load (its random legal actions and curated
scenarios; it submits a report at a step past the third with chance 0.15), keeps every observation,
then encodes them all in step order with each. Results to expect
(docs/performance_history.md, "Eighteenth round"): 27-29 and 20-23 us per observation at the load's
short episodes on the 2-core AMD box.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from bench_server import CURATED, random_action
from records import best_us_per_item, check_args


@dataclass
class Args:
    episodes: int = 300
    """Episodes to play."""
    max_steps: int = 30
    """Steps per episode at most (the environment also ends it)."""
    long: bool = False
    """Never submit: each episode runs until its credits or its steps run out."""
    repeats: int = 5
    """Timed passes per encoder; the best is reported."""


def observations(args: Args) -> list:
    """Every observation of ``args.episodes`` episodes, as snapshots (the encoders read records the
    environment shares between them, which is what the server's borrowed records are)."""
    from drugenv.models import DrugTargetAction
    from drugenv.simulator.environment import DrugTargetEnvironment

    env, out = DrugTargetEnvironment(), []
    for k in range(args.episodes):
        rng = random.Random(k)
        obs = env.reset(seed=k, scenario=CURATED[k % len(CURATED)])
        out.append(obs)
        for _ in range(args.max_steps):
            if obs.done:
                break
            seen = json.loads(obs.model_dump_json())
            if args.long:
                seen["step_count"] = 0  # the load submits only past the third step
            obs = env.step(DrugTargetAction.model_validate(random_action(rng, seen)))
            out.append(obs)
    return out


def main(args: Args) -> dict[str, float]:
    check_args(args, at_least={"episodes": 1, "max_steps": 1, "repeats": 1}, outputs=())
    from drugenv.server.protocol import EpisodeObservationData, observation_data

    obs_all = observations(args)
    kept = EpisodeObservationData()
    if any(kept(o) != observation_data(o) for o in obs_all):
        raise RuntimeError("EpisodeObservationData wrote another text than observation_data")
    chars = sum(len(observation_data(o)) for o in obs_all) / len(obs_all)

    def whole() -> None:
        for o in obs_all:
            observation_data(o)

    def pieces() -> None:
        encode = EpisodeObservationData()
        for o in obs_all:
            encode(o)

    best = best_us_per_item({"observation_data": whole, "EpisodeObservationData": pieces}, len(obs_all), args.repeats,
                            f", {chars:,.0f} characters on average")
    print(f"EpisodeObservationData / observation_data: {best['EpisodeObservationData'] / best['observation_data']:.2f}")
    return best


if __name__ == "__main__":
    import sys

    from records import cli

    sys.exit(cli(main, Args, "encode_observation.py"))
