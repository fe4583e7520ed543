"""In-process environment throughput: core env, text gym env and vector gym env, random agent.

How to run::

    python benchmarks/bench_env.py --steps 20000

    python benchmarks/bench_env.py --steps 20000 --profile core     # + cProfile's top functions of one row

Prints steps/s for each (resets included), each one's ratio to the core environment and to
gymnasium's ``CartPole-v1`` measured in the same process (the core's ``RandomPolicy`` row and CartPole
timed in alternating turns of 500 steps: the goal's ratio), and procedural resets/s. The core is
measured twice: with ``RandomPolicy`` (which builds and validates a fresh action every step, as a
client's action would be validated) and with a pool of pre-built random actions (the simulator alone).

The gym rows' random agents do not play the episodes ``RandomPolicy`` plays (the vector env's
agent submits in 10 of its 34 actions, so its episodes are ~3 steps and mostly resets; the text
env's never submits). So each gym env is also set against the core playing the same steps ("same
actions"): the episodes the gym env drew (``info["episode_seed"]``) with its action stream, decoded
before timing, checked reward for reward. That ratio is the wrapper's own cost (encode, decode, info,
gymnasium's reset seeding). The two are timed in alternating turns of 500 steps, so a shared box
whose speed drifts slows both alike. The gym rows' action streams are drawn before timing too
(strings for the text env, indices for the vector env), so every row times the environment alone;
every row and turn starts with the evidence generator's coverage cache empty (it is keyed by episode
seed: a row replaying seeds another row had played found their draws cached).

``--repeats`` passes run every row in turn; the table shows each row's median and each ratio's
median over the passes. Run it on an otherwise idle machine; ``os.getloadavg()`` is printed so a
reader can judge. Results to expect: ``docs/performance.md``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Literal, Optional

import numpy as np

from records import check_args


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
    repeats: int = 3
    """Passes over every row, one after another; each row's median is reported, and each ratio is the
    median of its passes' ratios (a shared box drifts between passes; within one, the two rows of a
    wrapper's ratio, and the core's ``RandomPolicy`` row and CartPole, are timed in alternating turns)."""
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
    _cold()
    t0 = _clock()
    while n < steps:
        obs = env.step(pol.act([obs])[0])
        n += 1
        if obs.done:
            ep += 1
            obs = env.reset(seed=seed + ep)
    return n / (_clock() - t0)


def bench_core_and_cartpole(steps: int, seed: int, chunk: int = 500) -> tuple[float, float]:
    """Steps/s of the core environment under ``RandomPolicy`` (as ``bench_core`` times it) and of
    ``CartPole-v1`` under its action space's random samples, timed in alternating turns of ``chunk`` steps each, so
    the goal's ratio compares the two over the same stretch of the box's time. Timed one after the other,
    seconds apart, the ratio of a pass moved 0.076-0.147 on the AMD box (CartPole alone 59k-116k steps/s
    within one run); a turn of either is a few to ~60 ms, well under the minutes the box's speed drifts over."""
    import gymnasium as gym

    from drugenv.agents.baselines import RandomPolicy
    from drugenv.simulator.environment import DrugTargetEnvironment

    env, pol = DrugTargetEnvironment(), RandomPolicy(seed=seed)
    obs, ep = env.reset(seed=seed), 0
    pole = gym.make("CartPole-v1")
    pole.action_space.seed(seed)
    pole.reset(seed=seed)
    core_time = pole_time = 0.0
    _cold()
    for start in range(0, steps, chunk):
        n = min(chunk, steps - start)
        t0 = _clock()
        for _ in range(n):
            obs = env.step(pol.act([obs])[0])
            if obs.done:
                ep += 1
                obs = env.reset(seed=seed + ep)
        core_time += _clock() - t0
        t0 = _clock()
        for i in range(start, start + n):
            _, _, term, trunc, _ = pole.step(pole.action_space.sample())
            if term or trunc:
                pole.reset(seed=seed + i)
        pole_time += _clock() - t0
    return steps / core_time, steps / pole_time


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
    _cold()
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
    _cold()
    t0 = _clock()
    for i in range(n):
        env.reset(seed=seed + i)
    return n / (_clock() - t0)


_TEXT_BENCH_ACTIONS = ("query_expression", "druggability_screen", "toxicity_panel", "literature_search")


def _cold() -> None:
    """Start a timed row as the first would: no evidence draws cached from an earlier row's episodes
    (the coverage cache is keyed by episode seed, and rows that replay seeds an earlier row played
    found their draws cached), and no garbage left for the row's collector to walk."""
    import gc

    from drugenv.simulator.evidence import _coverage_draw

    _coverage_draw.cache_clear()
    gc.collect()


def _gym_env_and_actions(env_id: str, steps: int, seed: int) -> tuple[Any, int, list[Any]]:
    """The gym env ``env_id`` reset with ``seed``, the core episode seed that reset drew, and its random
    agent's ``steps`` actions, drawn before timing: ``rng.choice`` alone cost ~14 us a step, which is
    the benchmark's agent, not the environment."""
    import gymnasium as gym

    import drugenv.gym_envs  # noqa: F401  (registers the ids)

    env = gym.make(env_id)
    env.action_space.seed(seed)
    episode_seed = env.reset(seed=seed)[1]["episode_seed"]
    if env_id.endswith("Text-v0"):
        rng = np.random.default_rng(seed)
        return env, episode_seed, ['{"action_type": "%s"}' % rng.choice(_TEXT_BENCH_ACTIONS) for _ in range(steps)]
    return env, episode_seed, [env.action_space.sample() for _ in range(steps)]


def _core_actions(env_id: str, steps: int, seed: int) -> list[Any]:
    """``_gym_env_and_actions``' action stream for ``env_id`` decoded into the core's ``DrugTargetAction``s."""
    from drugenv.actions import ActionType
    from drugenv.gym_envs.vector_env import VECTOR_ACTIONS
    from drugenv.models import DrugTargetAction

    rng = np.random.default_rng(seed)
    if env_id.endswith("Text-v0"):
        decoded = {a: DrugTargetAction(action_type=ActionType(a)) for a in _TEXT_BENCH_ACTIONS}
        return [decoded[str(rng.choice(_TEXT_BENCH_ACTIONS))] for _ in range(steps)]
    decoded_v = [a.to_action() for a in VECTOR_ACTIONS]
    return [decoded_v[int(i)] for i in rng.integers(len(VECTOR_ACTIONS), size=steps)]


def bench_gym(env_id: str, steps: int, seed: int) -> float:
    """Steps/s of the gym env ``env_id`` under its random agent (``--profile text`` / ``vector``)."""
    env, _, actions = _gym_env_and_actions(env_id, steps, seed)
    _cold()
    t0 = _clock()
    for i in range(steps):
        _, _, term, trunc, _ = env.step(actions[i])
        if term or trunc:
            env.reset(seed=seed + i)
    return steps / (_clock() - t0)


def bench_gym_and_core(env_id: str, steps: int, seed: int, chunk: int = 500) -> tuple[float, float]:
    """Steps/s of the gym env ``env_id`` under its random agent, and of the core environment playing the
    same steps: the episodes the gym env played (its ``info["episode_seed"]``s) with its actions, decoded
    before timing. The two are timed in turns of ``chunk`` steps, the core replaying each of the gym
    env's turns right after it, so a box whose speed drifts slows both alike. Raises if an episode
    ends elsewhere or a turn's rewards differ: then they did not play the same steps."""
    from drugenv.simulator.environment import DrugTargetEnvironment

    env, first_episode_seed, actions = _gym_env_and_actions(env_id, steps, seed)
    stream = _core_actions(env_id, steps, seed)
    episode_seeds = [first_episode_seed]
    core = DrugTargetEnvironment()
    core.reset(seed=episode_seeds[0])
    episode, gym_time, core_time = 0, 0.0, 0.0
    for start in range(0, steps, chunk):
        turn = range(start, min(start + chunk, steps))
        gym_reward = core_reward = 0.0
        _cold()  # each side draws its episodes' coverage itself (the cache is keyed by episode seed)
        t0 = _clock()
        for i in turn:
            _, reward, term, trunc, _ = env.step(actions[i])
            gym_reward += reward
            if term or trunc:
                episode_seeds.append(env.reset(seed=seed + i)[1]["episode_seed"])
        gym_time += _clock() - t0
        _cold()
        t0 = _clock()
        for i in turn:
            obs = core.step(stream[i])
            core_reward += obs.reward or 0.0
            if obs.done:
                episode += 1
                if episode == len(episode_seeds):
                    break
                core.reset(seed=episode_seeds[episode])
        core_time += _clock() - t0
        if episode != len(episode_seeds) - 1 or core_reward != gym_reward:
            raise RuntimeError(f"by step {turn[-1] + 1} the core played {episode + 1} of {env_id}'s "
                               f"{len(episode_seeds)} episodes, rewards {core_reward} against {gym_reward}: "
                               "not the same steps")
    return steps / gym_time, steps / core_time


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
"""The printed row names (in the table's order) and the keys their steps/s have in the JSON record."""


def one_pass(steps: int, seed: int) -> dict[str, float]:
    """Every row once, in the table's order: steps/s by ``ROW_KEYS`` key, and procedural resets/s.
    A gym env that fails to build is reported as NaN (its rows), not fatal."""
    rates: dict[str, float] = {}
    rates["core_random_policy"], rates["cartpole"] = bench_core_and_cartpole(steps, seed)
    rates["core_prebuilt"] = bench_core_simulator(steps, seed)
    for env_id, key in (("DrugEnv/Text-v0", "text"), ("DrugEnv/Vector-v0", "vector")):
        try:
            rates[key], rates[f"core_same_actions_as_{key}"] = bench_gym_and_core(env_id, steps, seed)
        except RuntimeError:
            raise  # the core did not replay the gym env's steps: the benchmark's fault, not a missing wrapper
        except Exception as err:  # noqa: BLE001 - a missing wrapper is reported, not fatal
            print(f"{env_id} unavailable: {err}")
            rates[key] = rates[f"core_same_actions_as_{key}"] = float("nan")
    rates["procedural_resets"] = bench_resets(max(1000, steps // 10), seed)
    return rates


def main(args: Args) -> None:
    check_args(args, at_least={"steps": 1, "repeats": 1, "profile_top": 1})
    import os
    import statistics

    from records import pass_ratio

    global _clock
    _clock = time.process_time if args.clock == "cpu" else time.perf_counter
    load_before = os.getloadavg()
    passes = []
    for i in range(args.repeats):
        passes.append(one_pass(args.steps, args.seed))
        print(f"pass {i + 1}/{args.repeats}: core {passes[-1]['core_random_policy']:,.0f} steps/s", flush=True)
    load_after = os.getloadavg()
    steps_per_s = {key: statistics.median(p[key] for p in passes) for key in ROW_KEYS.values()}
    resets = statistics.median(p["procedural_resets"] for p in passes)
    results = {"steps_per_s": steps_per_s, "procedural_resets_per_s": resets,
               "passes": [{k: round(v, 1) for k, v in p.items()} for p in passes]}
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; {args.steps} steps each, resets "
          f"included, {args.clock} clock; medians of {args.repeats} pass{'es' if args.repeats > 1 else ''}")
    print(f"{'environment':<40} {'steps/s':>9} {'vs core':>8} {'vs CartPole':>12} {'vs same actions':>16}")
    for name, key in ROW_KEYS.items():
        same = f"{pass_ratio(results, key, f'core_same_actions_as_{key}'):16.2f}" if key in ("text", "vector") else ""
        print(f"{name:<40} {steps_per_s[key]:9.0f} {pass_ratio(results, key, 'core_random_policy'):8.2f} "
              f"{pass_ratio(results, key, 'cartpole'):12.3f} {same}")
    print(f"procedural resets/s: {resets:.0f}")
    if args.json_out:
        from records import write_record

        results["steps_per_s"] = {k: round(v, 1) for k, v in steps_per_s.items()}
        results["procedural_resets_per_s"] = round(resets, 1)
        write_record(args.json_out, "bench_env", {k: v for k, v in vars(args).items() if k != "json_out"},
                     results, load_before[0], load_after[0])
    if args.profile:
        runs = {"core": lambda: bench_core(args.steps, args.seed),
                "simulator": lambda: bench_core_simulator(args.steps, args.seed),
                "text": lambda: bench_gym("DrugEnv/Text-v0", args.steps, args.seed),
                "vector": lambda: bench_gym("DrugEnv/Vector-v0", args.steps, args.seed),
                "resets": lambda: bench_resets(max(1000, args.steps // 10), args.seed)}
        print(f"\ncProfile of {args.profile!r}:")
        profile_row(runs[args.profile], args.profile_top)


if __name__ == "__main__":
    import sys

    from records import cli

    sys.exit(cli(main, Args, "bench_env.py"))
