"""In-process environment throughput: core env, text gym env and vector gym env, random agent.

How to run::

    python benchmarks/bench_env.py --steps 20000

Prints steps/s for each, and each wrapper's ratio to the core environment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import tyro


@dataclass
class Args:
    steps: int = 20000
    """Environment steps per measurement."""
    seed: int = 0
    """Seed for scenarios and the random agent."""


def bench_core(steps: int, seed: int) -> float:
    from drugenv.agents.baselines import RandomPolicy
    from drugenv.simulator.environment import DrugTargetEnvironment

    env, pol = DrugTargetEnvironment(), RandomPolicy(seed=seed)
    obs, ep, n = env.reset(seed=seed), 0, 0
    t0 = time.perf_counter()
    while n < steps:
        obs = env.step(pol.act([obs])[0])
        n += 1
        if obs.done:
            ep += 1
            obs = env.reset(seed=seed + ep)
    return n / (time.perf_counter() - t0)


def bench_gym(env_id: str, steps: int, seed: int) -> float:
    import gymnasium as gym

    import drugenv.gym_envs  # noqa: F401  (registers the ids)

    env = gym.make(env_id)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for i in range(steps):
        if env_id.endswith("Text-v0"):
            action = '{"action_type": "%s"}' % rng.choice(["query_expression", "druggability_screen", "toxicity_panel", "literature_search"])
        else:
            action = env.action_space.sample()
        _, _, term, trunc, _ = env.step(action)
        if term or trunc:
            env.reset(seed=seed + i)
    return steps / (time.perf_counter() - t0)


def main(args: Args) -> None:
    core = bench_core(args.steps, args.seed)
    rows = [("core DrugTargetEnvironment", core)]
    for env_id in ("DrugEnv/Text-v0", "DrugEnv/Vector-v0"):
        try:
            rows.append((env_id, bench_gym(env_id, args.steps, args.seed)))
        except Exception as err:  # noqa: BLE001 - a missing wrapper is reported, not fatal
            rows.append((f"{env_id} (unavailable: {err})", float("nan")))
    print(f"{'environment':<40} {'steps/s':>10} {'vs core':>8}")
    for name, sps in rows:
        print(f"{name:<40} {sps:10.0f} {sps / core:8.2f}")


if __name__ == "__main__":
    main(tyro.cli(Args))
