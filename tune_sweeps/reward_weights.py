"""Tune sweep over ``RewardConfig``: which reward design trains the best-calibrated agent?

How to run::

    drugenv sweep tune_sweeps/reward_weights --num-samples 12
    python -m drugenv.tuning.sweep tune_sweeps/reward_weights --num-samples 12     # same

Every trial trains PPO on ``procedural-train`` with its own reward weights and is scored ONLY by the
fixed held-out evaluation (``procedural-test``, fixed seeds, default ``RewardConfig``): Brier (the
sweep's metric), ECE, decision accuracy and credits used. Its own training return is never compared
across trials: the weights change its scale. ASHA stops poor trials at early evaluation rounds.

Outputs in ``runs/sweeps/reward_weights/``: ``results.csv`` / ``results.md`` (sorted, one row per
trial with its config), ``metric_vs_params.png``, ``best_config.json`` (pass it to
``drugenv train rllib_configs/ppo_vector --overrides …``) and ``best_trial.json``.
"""

from __future__ import annotations

from typing import Any

from drugenv.tuning.sweep import PPO_TRIAL_ASHA, PPO_TRIAL_BUDGET

NAME = "reward_weights"
METRIC = "heldout/brier"
"""Mean Brier score of the stated P(go) on the held-out split: lower is better (proper: rewards
accuracy and calibration together)."""
MODE = "min"
NUM_SAMPLES = 12
ALGO = "ppo_vector"

BASE_OVERRIDES: dict[str, Any] = PPO_TRIAL_BUDGET  # 30 iterations, 100 held-out episodes every 5, lr 1e-3
"""Fixed settings every trial shares (merged under the searched ones): the committed sweeps' one budget."""

ASHA: dict[str, Any] = PPO_TRIAL_ASHA
"""ASHA settings, in evaluation rounds (one round = ``run.eval_interval`` PPO iterations)."""

KEY_PARAMS: tuple[str, ...] = (
    "env_config.reward_config.decision_scoring",
    "env_config.reward_config.shaping",
    "env_config.reward_config.w_decision",
    "env_config.reward_config.w_coverage",
    "env_config.reward_config.credit_cost_weight",
    "env_config.reward_config.soft_violation_penalty",
)
"""Parameters the results plot shows the metric against."""


def search_space() -> dict[str, Any]:
    """Nested overrides with Tune search primitives at the leaves."""
    from ray import tune

    return {
        "env_config": {
            "reward_config": {
                "decision_scoring": tune.choice(["linear", "brier"]),
                "shaping": tune.choice([True, False]),
                "w_decision": tune.uniform(0.2, 1.0),
                "w_coverage": tune.uniform(0.0, 0.5),
                "credit_cost_weight": tune.loguniform(0.02, 0.5),
                "soft_violation_penalty": tune.choice([0.02, 0.05, 0.15]),
                "hard_violation_penalty": tune.choice([0.05, 0.1, 0.3]),
            }
        }
    }
