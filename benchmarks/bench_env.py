"""In-process environment throughput: core env, text gym env and vector gym env, random agent.

How to run::

    python benchmarks/bench_env.py --steps 20000

    python benchmarks/bench_env.py --steps 20000 --profile core     # + cProfile's top functions of one row

Prints steps/s for each (resets included), each one's ratio to the core environment and to
gymnasium's ``CartPole-v1`` measured in the same process, and procedural resets/s. The core is
measured twice: with ``RandomPolicy`` (which builds and validates a fresh action every step, as a
client's action would be validated) and with a pool of pre-built random actions (the simulator alone).

The gym rows' random agents do not play the episodes ``RandomPolicy`` plays (the vector env's
agent submits in 10 of its 34 actions, so its episodes are ~3 steps and mostly resets; the text
env's never submits). So each gym env is also set against the core fed the same action stream,
decoded before timing ("same actions"): that ratio is the wrapper's overhead (encode, decode, info).
The gym rows' action streams are drawn before timing too (strings for the text env, indices for the
vector env), so every row times the environment alone.
Run it on an otherwise idle machine; ``os.getloadavg()`` is printed so a reader can judge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Literal, Optional

import numpy as np
import tyro


@dataclass
class Args:
    steps: int = 20000
    """Environment steps per measurement."""
    seed: int = 0
    """Seed for scenarios and the random agent."""
    profile: Optional[Literal["core", "simulator", "text", "vector", "resets"]] = None
    """Also run that row under cProfile and print its top functions by own time."""
    profile_top: int = 25
    """How many functions the profile prints."""
    clock: Literal["wall", "cpu"] = "wall"
    """wall: ``time.perf_counter``; cpu: this process's CPU time (``time.process_time``), steadier
    when other processes share the cores (a loaded box stretches wall time, not CPU time)."""
    json_out: Optional[str] = None
    """Also write the results to this path (``benchmarks/records.py``'s envelope; ``benchmarks/goals.py`` reads it)."""


_clock: Callable[[], float] = time.perf_counter


def bench_core(steps: int, seed: int) -> float:
    from drugenv.agents.baselines import RandomPolicy
    from drugenv.simulator.environment import DrugTargetEnvironment

    env, pol = DrugTargetEnvironment(), RandomPolicy(seed=seed)
    obs, ep, n = env.reset(seed=seed), 0, 0
    t0 = _clock()
    while n < steps:
        obs = env.step(pol.act([obs])[0])
        n += 1
        if obs.done:
            ep += 1
            obs = env.reset(seed=seed + ep)
    return n / (_clock() - t0)


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
    t0 = _clock()
    for n in range(steps):
        obs = env.step(pool[n % len(pool)])
        if obs.done:
            ep += 1
            obs = env.reset(seed=seed + ep)
    return steps / (_clock() - t0)


def bench_resets(n: int, seed: int) -> float:
    """Procedural resets/s (the scenario generator runs once per episode)."""
    from drugenv.simulator.environment import DrugTargetEnvironment

    env = DrugTargetEnvironment()
    t0 = _clock()
    for i in range(n):
        env.reset(seed=seed + i)
    return n / (_clock() - t0)


def bench_cartpole(steps: int, seed: int) -> float:
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    env.action_space.seed(seed)
    env.reset(seed=seed)
    t0 = _clock()
    for i in range(steps):
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            env.reset(seed=seed + i)
    return steps / (_clock() - t0)


_TEXT_BENCH_ACTIONS = ("query_expression", "druggability_screen", "toxicity_panel", "literature_search")


def bench_gym(env_id: str, steps: int, seed: int) -> float:
    import gymnasium as gym

    import drugenv.gym_envs  # noqa: F401  (registers the ids)

    env = gym.make(env_id)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    # The agent's choices are drawn before timing (the same streams as drawing them in the loop):
    # ``rng.choice`` alone cost ~14 us a step, which is the benchmark's agent, not the environment.
    if env_id.endswith("Text-v0"):
        actions = ['{"action_type": "%s"}' % rng.choice(_TEXT_BENCH_ACTIONS) for _ in range(steps)]
    else:
        actions = [env.action_space.sample() for _ in range(steps)]
    t0 = _clock()
    for i in range(steps):
        _, _, term, trunc, _ = env.step(actions[i])
        if term or trunc:
            env.reset(seed=seed + i)
    return steps / (_clock() - t0)


def bench_core_same_actions(env_id: str, steps: int, seed: int) -> float:
    """The core environment fed the action stream ``bench_gym`` draws for ``env_id``, decoded into
    ``DrugTargetAction``s before timing: the same episode lengths without the wrapper."""
    from drugenv.actions import ActionType
    from drugenv.gym_envs.vector_env import VECTOR_ACTIONS
    from drugenv.models import DrugTargetAction
    from drugenv.simulator.environment import DrugTargetEnvironment

    rng = np.random.default_rng(seed)
    if env_id.endswith("Text-v0"):
        decoded = {a: DrugTargetAction(action_type=ActionType(a)) for a in _TEXT_BENCH_ACTIONS}
        stream = [decoded[str(rng.choice(_TEXT_BENCH_ACTIONS))] for _ in range(steps)]
    else:
        decoded_v = [a.to_action() for a in VECTOR_ACTIONS]
        stream = [decoded_v[int(i)] for i in rng.integers(len(VECTOR_ACTIONS), size=steps)]
    env = DrugTargetEnvironment()
    env.reset(seed=seed)
    t0 = _clock()
    for i in range(steps):
        if env.step(stream[i]).done:
            env.reset(seed=seed + i)
    return steps / (_clock() - t0)


def profile_row(run: Callable[[], float], top: int) -> None:
    """Print cProfile's ``top`` functions of one benchmark row, by own time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


ROW_KEYS = {"core, RandomPolicy agent": "core_random_policy", "core, pre-built random actions": "core_prebuilt",
            "DrugEnv/Text-v0": "text", "  core, same actions as Text-v0": "core_same_actions_as_text",
            "DrugEnv/Vector-v0": "vector", "  core, same actions as Vector-v0": "core_same_actions_as_vector",
            "gymnasium CartPole-v1": "cartpole"}
"""The printed row names and the keys their steps/s have in the JSON record."""


def main(args: Args) -> None:
    import os

    global _clock
    _clock = time.process_time if args.clock == "cpu" else time.perf_counter
    load_before = os.getloadavg()
    cartpole = bench_cartpole(args.steps, args.seed)
    core = bench_core(args.steps, args.seed)
    rows: list[tuple[str, float, Optional[float]]] = [
        ("core, RandomPolicy agent", core, None),
        ("core, pre-built random actions", bench_core_simulator(args.steps, args.seed), None)]
    for env_id in ("DrugEnv/Text-v0", "DrugEnv/Vector-v0"):
        try:
            sps = bench_gym(env_id, args.steps, args.seed)
            same = bench_core_same_actions(env_id, args.steps, args.seed)
            rows.append((env_id, sps, sps / same))
            rows.append((f"  core, same actions as {env_id.split('/')[1]}", same, None))
        except Exception as err:  # noqa: BLE001 - a missing wrapper is reported, not fatal
            rows.append((f"{env_id} (unavailable: {err})", float("nan"), None))
    rows.append(("gymnasium CartPole-v1", cartpole, None))
    resets = bench_resets(max(1000, args.steps // 10), args.seed)
    load_after = os.getloadavg()
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; "
          f"{args.steps} steps each, resets included, {args.clock} clock")
    print(f"{'environment':<40} {'steps/s':>9} {'vs core':>8} {'vs CartPole':>12} {'vs same actions':>16}")
    for name, sps, overhead in rows:
        same = f"{overhead:16.2f}" if overhead is not None else ""
        print(f"{name:<40} {sps:9.0f} {sps / core:8.2f} {sps / cartpole:12.3f} {same}")
    print(f"procedural resets/s: {resets:.0f}")
    if args.json_out:
        from records import write_record

        steps_per_s = {ROW_KEYS[name]: round(sps, 1) for name, sps, _ in rows if name in ROW_KEYS}
        write_record(args.json_out, "bench_env", {k: v for k, v in vars(args).items() if k != "json_out"},
                     {"steps_per_s": steps_per_s, "procedural_resets_per_s": round(resets, 1)},
                     load_before[0], load_after[0])
    if args.profile:
        runs = {"core": lambda: bench_core(args.steps, args.seed),
                "simulator": lambda: bench_core_simulator(args.steps, args.seed),
                "text": lambda: bench_gym("DrugEnv/Text-v0", args.steps, args.seed),
                "vector": lambda: bench_gym("DrugEnv/Vector-v0", args.steps, args.seed),
                "resets": lambda: bench_resets(max(1000, args.steps // 10), args.seed)}
        print(f"\ncProfile of {args.profile!r}:")
        profile_row(runs[args.profile], args.profile_top)


if __name__ == "__main__":
    main(tyro.cli(Args))
