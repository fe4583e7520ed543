"""GRPO iteration time of the main job's config under three process layouts, side by side.

How to run::

    python benchmarks/bench_grpo.py                                          # the SFT model of a main-job run, if any
    python benchmarks/bench_grpo.py --model runs/grpo_tiny_cpu/sft_model --iterations 8

Builds ``rllib_configs/grpo_tiny_cpu.py``'s ``DrugGRPO`` (RLlib's held-out evaluation off) from
``--model`` for each layout on a local Ray, runs one warm-up iteration, then times ``--iterations``
more and reports seconds per iteration, split into sampling and the learner update (RLlib's
``timers``), and each layout's speed-up over the first:

| layout        | env runners x environments | runner threads | learner threads |
|---------------|----------------------------|----------------|-----------------|
| one_runner    | 1 x 8                      | 1              | 1               |
| two_thread    | 1 x 8                      | 1              | 2               |
| two_runners   | 2 x 4 (the main job's)     | 1              | 2               |

Why: sampling and learning take turns (``DrugGRPO.training_step``), so on 2 cores the first layout
leaves one core idle in each phase. Each layout draws its own sampling streams (two runners sample
other episodes than one), so their iterations do not time identical work: use several iterations.

Results to expect (2 idle cores, the SFT model of a seed-0 main job, 6 iterations;
``docs/results/grpo_layouts.json``): 14.6 s, 12.1 s and 10.0 s per iteration (x1.21, x1.46). A random-init model
(``--model tiny``) rarely ends a reply, so its completions run to ``max_new_tokens`` and its
iterations time other work than a trained model's. Compare only numbers taken in one run, with the
load average it prints.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from records import check_args


ROOT = Path(__file__).resolve().parents[1]

LAYOUTS: dict[str, dict] = {
    "one_runner": {"env_runners": {"num_env_runners": 1, "num_envs_per_env_runner": 8},
                   "training": {"torch_num_threads": 1, "learner_torch_num_threads": 1}},
    "two_thread": {"env_runners": {"num_env_runners": 1, "num_envs_per_env_runner": 8},
                   "training": {"torch_num_threads": 1, "learner_torch_num_threads": 2}},
    "two_runners": {"env_runners": {"num_env_runners": 2, "num_envs_per_env_runner": 4},
                    "training": {"torch_num_threads": 1, "learner_torch_num_threads": 2}},
}
"""Layout name -> the overrides of ``rllib_configs/grpo_tiny_cpu.py`` that make it."""


@dataclass
class Args:
    model: Optional[str] = None
    """The model GRPO starts from: a local directory, or ``tiny`` (random init). Default: the SFT model
    of a main-job run (``runs/grpo_tiny_cpu/sft_model``) if one exists, else ``tiny``."""
    layouts: list[str] = field(default_factory=lambda: list(LAYOUTS))
    """Layouts to measure, in order (``LAYOUTS``); ratios are to the first."""
    iterations: int = 4
    """Timed iterations per layout (after one warm-up iteration)."""
    seed: int = 0
    """The config's seed."""
    num_cpus: int = 2
    """CPUs the local Ray may use."""
    json_out: Optional[str] = None
    """Also write the results to this path (``benchmarks/records.py``'s envelope)."""


def resolve_model(model: Optional[str]) -> str:
    from drugenv.llm.architectures import resolve_model_spec

    if model is None:
        sft = ROOT / "runs" / "grpo_tiny_cpu" / "sft_model"
        model = str(sft) if (sft / "config.json").exists() else "tiny"
    return model if Path(model).is_dir() else resolve_model_spec(model)


def time_layout(model: str, layout: str, iterations: int, seed: int) -> dict[str, float]:
    """Seconds per GRPO iteration (and its sampling and learner parts) for one layout."""
    from drugenv.training.configs import load_rllib_config, merge

    config = load_rllib_config(ROOT / "rllib_configs" / "grpo_tiny_cpu.py")
    overrides = merge(LAYOUTS[layout], {"seed": seed, "run": {"eval_interval": 10**9}})
    algo = config.build_config(overrides, model_path=model).build_algo()
    try:
        algo.train()  # warm-up: module build, first sampling
        seconds, sample_s, learn_s = [], [], []
        for _ in range(iterations):
            t0 = time.perf_counter()
            result = algo.train()
            seconds.append(time.perf_counter() - t0)
            sample_s.append(result["timers"]["env_runner_sampling_timer"])
            learn_s.append(result["timers"].get("learner_update_timer", 0.0))
    finally:
        algo.stop()
    return {"s_per_iteration": round(statistics.mean(seconds), 2), "sample_s": round(statistics.mean(sample_s), 2),
            "learn_s": round(statistics.mean(learn_s), 2)}


def main(args: Args) -> None:
    check_args(args, at_least={"iterations": 1, "num_cpus": 1})
    import ray

    from drugenv.errors import ConfigError
    from drugenv.training.configs import init_ray

    unknown = [name for name in args.layouts if name not in LAYOUTS]
    if unknown or not args.layouts:
        raise ConfigError(f"--layouts {' '.join(unknown) or '(none)'}: expected some of {' '.join(LAYOUTS)}")
    model = resolve_model(args.model)
    init_ray(num_cpus=args.num_cpus)
    try:
        load = os.getloadavg()[0]
        rows = {name: time_layout(model, name, args.iterations, args.seed) for name in args.layouts}
    finally:
        ray.shutdown()
    load_after = os.getloadavg()[0]
    first = rows[args.layouts[0]]["s_per_iteration"]
    print(f"load average {load:.2f} before, {load_after:.2f} after; model {model}; "
          f"{args.iterations} timed iterations each")
    print(f"{'layout':>12} {'s/iteration':>12} {'sampling s':>11} {'learner s':>10} {'speed-up':>9}")
    for name, r in rows.items():
        print(f"{name:>12} {r['s_per_iteration']:>12} {r['sample_s']:>11} {r['learn_s']:>10} "
              f"{first / r['s_per_iteration']:>8.2f}x")
    if args.json_out:
        from records import write_record

        config = {k: v for k, v in vars(args).items() if k != "json_out"} | {"model": model}
        write_record(args.json_out, "bench_grpo", config, {"by_layout": rows}, load, load_after)


if __name__ == "__main__":
    import sys

    from records import cli

    sys.exit(cli(main, Args, "bench_grpo.py"))
