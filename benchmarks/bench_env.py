"""In-process environment throughput: core env, text gym env and vector gym env, random agent.

How to run::

    python benchmarks/bench_env.py --steps 20000

Prints steps/s for each (resets included), each one's ratio to the core environment and to
gymnasium's ``CartPole-v1`` measured in the same process, and procedural resets/s. The core is
measured twice: with ``RandomPolicy`` (which builds and validates a fresh action every step, as a
client's action would be validated) and with a pool of pre-built random actions (the simulator alone).
Run it on an otherwise idle machine; ``os.getloadavg()`` is printed so a reader can judge.
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


def bench_core_simulator(steps: int, seed: int) -> float:
    """The simulator alone: random actions drawn from a pool built before timing starts."""
    from drugenv.actions import ActionType
    from drugenv.agents.baselines import RandomPolicy
    from drugenv.models import DrugTargetAction
    from drugenv.simulator.environment import DrugTargetEnvironment

    rng = np.random.default_rng(seed)
    kinds = list(ActionType)
    pool = []
    for _ in range(4096):
        at = kinds[int(rng.integers(len(kinds)))]
        if at == ActionType.SUBMIT_VALIDATION_REPORT:
            pool.append(DrugTargetAction(action_type=at, final_decision="go", confidence=0.7, reasoning="random"))
        else:
            pool.append(DrugTargetAction(action_type=at, parameters=RandomPolicy.random_parameters(at, rng), reasoning="random"))
    env = DrugTargetEnvironment()
    obs, ep = env.reset(seed=seed), 0
    t0 = time.perf_counter()
    for n in range(steps):
        obs = env.step(pool[n % len(pool)])
        if obs.done:
            ep += 1
            obs = env.reset(seed=seed + ep)
    return steps / (time.perf_counter() - t0)


def bench_resets(n: int, seed: int) -> float:
    """Procedural resets/s (the scenario generator runs once per episode)."""
    from drugenv.simulator.environment import DrugTargetEnvironment

    env = DrugTargetEnvironment()
    t0 = time.perf_counter()
    for i in range(n):
        env.reset(seed=seed + i)
    return n / (time.perf_counter() - t0)


def bench_cartpole(steps: int, seed: int) -> float:
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    env.action_space.seed(seed)
    env.reset(seed=seed)
    t0 = time.perf_counter()
    for i in range(steps):
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            env.reset(seed=seed + i)
    return steps / (time.perf_counter() - t0)


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
    import os

    cartpole = bench_cartpole(args.steps, args.seed)
    core = bench_core(args.steps, args.seed)
    rows = [("core, RandomPolicy agent", core), ("core, pre-built random actions", bench_core_simulator(args.steps, args.seed))]
    for env_id in ("DrugEnv/Text-v0", "DrugEnv/Vector-v0"):
        try:
            rows.append((env_id, bench_gym(env_id, args.steps, args.seed)))
        except Exception as err:  # noqa: BLE001 - a missing wrapper is reported, not fatal
            rows.append((f"{env_id} (unavailable: {err})", float("nan")))
    rows.append(("gymnasium CartPole-v1", cartpole))
    print(f"load average {os.getloadavg()[0]:.2f}; {args.steps} steps each, resets included")
    print(f"{'environment':<36} {'steps/s':>10} {'vs core':>8} {'vs CartPole':>12}")
    for name, sps in rows:
        print(f"{name:<36} {sps:10.0f} {sps / core:8.2f} {sps / cartpole:12.3f}")
    print(f"procedural resets/s: {bench_resets(max(1000, args.steps // 10), args.seed):.0f}")


if __name__ == "__main__":
    main(tyro.cli(Args))
