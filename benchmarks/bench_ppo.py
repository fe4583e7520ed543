"""PPO iteration time on ``DrugEnv/Vector-v0``, with 1 and with N environments per env runner.

How to run::

    python benchmarks/bench_ppo.py                                   # num_envs_per_env_runner 1 vs 8
    python benchmarks/bench_ppo.py --envs-per-runner 1 4 8 --iterations 3

Builds ``rllib_configs/ppo_vector.py``'s PPO config (its defaults: 1000 env steps per iteration,
6 epochs of 250-step minibatches, the env runner in the driver) on a local Ray
(``ray.init(address="local", num_cpus=2)``), runs one warm-up iteration, then times
``--iterations`` more and reports seconds per iteration, split into sampling and the learner
update (RLlib's ``timers``, reset before each timed iteration: RLlib averages them over all
iterations, warm-up included), and env steps sampled per second of sampling.

Results to expect: a few seconds per iteration on 2 shared cores; several environments per runner
batch the policy's forward passes, so sampling gets cheaper per step. Compare only numbers taken
in one run, with the load average it prints.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from records import check_args



@dataclass
class Args:
    envs_per_runner: list[int] = field(default_factory=lambda: [1, 8])
    """Values of ``num_envs_per_env_runner`` to measure, in order."""
    config: str = str(Path(__file__).resolve().parents[1] / "rllib_configs" / "ppo_vector.py")
    """The PPO config file (its ``build_config(overrides)`` is used)."""
    iterations: int = 2
    """Timed iterations per setting (after one warm-up iteration)."""
    num_cpus: int = 2
    """CPUs the local Ray may use."""
    json_out: Optional[str] = None
    """Also write the results to this path (``benchmarks/records.py``'s envelope; ``benchmarks/goals.py`` reads it)."""


def time_iterations(config: str, envs_per_runner: int, iterations: int) -> dict[str, float]:
    """Seconds per PPO iteration and env steps sampled per second, for one setting."""
    from ray.rllib.utils.metrics import ENV_RUNNER_SAMPLING_TIMER, LEARNER_UPDATE_TIMER, TIMERS

    from drugenv.training.configs import load_rllib_config

    overrides = {"env_runners": {"num_envs_per_env_runner": envs_per_runner}}
    algo = load_rllib_config(config).build_config(overrides).build_algo()
    try:
        algo.train()  # warm-up: module build, first sampling
        seconds, steps, sample_s, learn_s = [], [], [], []
        for _ in range(iterations):
            # RLlib keeps these timers as an exponential average with coefficient 0.01 over all
            # iterations, so without a reset each reading would be ~99% the warm-up's (module build,
            # first sampling). Deleted, the next iteration's reading is that iteration's alone.
            for timer in (ENV_RUNNER_SAMPLING_TIMER, LEARNER_UPDATE_TIMER):
                algo.metrics.delete(TIMERS, timer, key_error=False)
            t0 = time.perf_counter()
            result = algo.train()
            seconds.append(time.perf_counter() - t0)
            steps.append(result["env_runners"]["num_env_steps_sampled"])
            sample_s.append(result[TIMERS][ENV_RUNNER_SAMPLING_TIMER])
            learn_s.append(result[TIMERS][LEARNER_UPDATE_TIMER])
    finally:
        algo.stop()
    per_iter, sampling = statistics.mean(seconds), statistics.mean(sample_s)
    return {"s_per_iteration": round(per_iter, 2), "sample_s": round(sampling, 2),
            "learn_s": round(statistics.mean(learn_s), 2), "env_steps_per_iteration": statistics.mean(steps),
            "sampled_steps_per_s": round(statistics.mean(steps) / sampling, 1)}


def main(args: Args) -> None:
    check_args(args, at_least={"envs_per_runner": 1, "iterations": 1, "num_cpus": 1})
    import ray

    from drugenv.training.configs import load_rllib_config

    load_rllib_config(args.config)  # a config that is not there is refused before Ray starts

    ray.init(address="local", num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        load = os.getloadavg()[0]
        rows = {n: time_iterations(args.config, n, args.iterations) for n in args.envs_per_runner}
    finally:
        ray.shutdown()
    load_after = os.getloadavg()[0]
    print(f"load average {load:.2f} before, {load_after:.2f} after; {args.iterations} timed iterations each")
    print(f"{'num_envs_per_env_runner':>24} {'s/iteration':>12} {'sampling s':>11} {'learner s':>10} "
          f"{'env steps/iter':>15} {'sampled steps/s':>16}")
    for n, r in rows.items():
        print(f"{n:>24} {r['s_per_iteration']:>12} {r['sample_s']:>11} {r['learn_s']:>10} "
              f"{r['env_steps_per_iteration']:>15.0f} {r['sampled_steps_per_s']:>16}")
    if args.json_out:
        from records import write_record

        config = {k: v for k, v in vars(args).items() if k != "json_out"}
        write_record(args.json_out, "bench_ppo", config, {"by_envs_per_runner": {str(n): r for n, r in rows.items()}},
                     load, load_after)


if __name__ == "__main__":
    import sys

    from records import cli

    sys.exit(cli(main, Args, "bench_ppo.py"))
