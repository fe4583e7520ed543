"""`benchmarks/bench_grpo.py`'s layouts are the configs they name: each builds a valid DrugGRPO config
of the main job with its runners, environments and threads (the timing itself is the benchmark's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmark_scripts import load

pytest.importorskip("ray.rllib")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    return load("bench_grpo")


EXPECTED = {"one_runner": (1, 8, 1), "two_thread": (1, 8, 2), "two_runners": (2, 4, 2)}
"""Layout -> (env runners, environments per runner, learner threads)."""


@pytest.mark.parametrize("layout", sorted(EXPECTED))
def test_each_layout_builds_the_main_job_config_it_names(bench, layout, tmp_path):
    from drugenv.training.configs import load_rllib_config, merge

    main_job = load_rllib_config(ROOT / "rllib_configs" / "grpo_tiny_cpu.py")
    config = main_job.build_config(merge(bench.LAYOUTS[layout], {"run": {"eval_interval": 10**9}}),
                                   model_path=str(tmp_path))  # validate() reads no weights
    config.validate()
    runners, envs, learner_threads = EXPECTED[layout]
    assert (config.num_env_runners, config.num_envs_per_env_runner) == (runners, envs)
    assert (config.torch_num_threads, config.learner_torch_num_threads) == (1, learner_threads)
    assert config.group_size == main_job.DEFAULTS["training"]["group_size"]  # everything else is the main job's


def test_the_main_job_runs_the_two_runner_layout(bench):
    from drugenv.training.configs import load_rllib_config, merge

    main_job = load_rllib_config(ROOT / "rllib_configs" / "grpo_tiny_cpu.py")
    assert merge(main_job.DEFAULTS, bench.LAYOUTS["two_runners"]) == main_job.DEFAULTS


def test_unknown_layout_is_refused(bench):
    from drugenv.errors import ConfigError

    with pytest.raises(ConfigError, match="--layouts three_runners: expected some of one_runner"):
        bench.main(bench.Args(layouts=["three_runners"]))
    with pytest.raises(ConfigError, match=r"--layouts \(none\)"):
        bench.main(bench.Args(layouts=[]))
