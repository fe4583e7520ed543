"""Tune sweeps (reward weights, curricula): >= 4 trials each on local Ray with tiny budgets; every trial
is scored by the same held-out evaluation; table, plot and best config are written."""

import csv
import json
from pathlib import Path

import pytest

from drugenv.errors import ConfigError
from drugenv.tuning.sweep import SweepArgs, budget_overrides, flatten, load_sweep, run_sweep

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["reward_weights", "curriculum"])
def test_sweep_writes_table_plot_and_best_config(local_ray, tmp_path, name, tiny):
    sweep = load_sweep(REPO / "tune_sweeps" / name)
    res = run_sweep(sweep, num_samples=4, out=tmp_path, max_concurrent_trials=2, base_overrides=tiny, seed=0)
    rows = res["table"]
    assert len(rows) == 4 and not res["errors"]
    values = [r[sweep.METRIC] for r in rows]
    assert values == sorted(values, reverse=sweep.MODE == "max")
    searched = "config.env_config.reward_config." if name == "reward_weights" else "config.env_config.curriculum."
    assert all(any(k.startswith(searched) for k in r) for r in rows)
    out = tmp_path / sweep.NAME
    with open(out / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert "heldout/brier" in (out / "results.md").read_text() or "brier" in (out / "results.md").read_text()
    assert (out / "metric_vs_params.png").read_bytes()[:4] == b"\x89PNG"
    best = json.loads((out / "best_config.json").read_text())
    assert best["algo"] == "ppo_vector" and flatten(best["env_config"])
    # The exported file is accepted by the trainer's settings (what `drugenv train --overrides` does).
    from drugenv.training.configs import load_rllib_config

    s = load_rllib_config(REPO / "rllib_configs" / "ppo_vector").settings(best)
    if name == "reward_weights":
        from drugenv.simulator.params import RewardConfig

        RewardConfig(**s["env_config"]["reward_config"])
    else:
        from drugenv.training.curriculum import CurriculumSpec

        CurriculumSpec.parse(s["env_config"]["curriculum"])


def test_sweep_files_and_budget_flags():
    for name in ("reward_weights", "curriculum"):
        sweep = load_sweep(REPO / "tune_sweeps" / name)
        assert sweep.METRIC.startswith("heldout/") and sweep.MODE in ("min", "max") and sweep.search_space()
    with pytest.raises(ConfigError, match="not found"):
        load_sweep("tune_sweeps/nope")
    args = SweepArgs(sweep="tune_sweeps/curriculum", iterations=3, eval_episodes=10, train_batch_size=400)
    assert budget_overrides(args) == {"run": {"iterations": 3, "eval_episodes": 10},
                                      "training": {"train_batch_size_per_learner": 400, "minibatch_size": 250}}
