"""Tune sweep over curricula: which difficulty mix / schedule trains the best agent for the held-out mix?

How to run::

    drugenv sweep tune_sweeps/curriculum --num-samples 8
    python -m drugenv.tuning.sweep tune_sweeps/curriculum --num-samples 8     # same
    drugenv sweep tune_sweeps/curriculum --algo grpo_tiny_cpu --num-samples 4   # the LLM agent (Tuner(DrugGRPO, ...))

Curricula (``drugenv.scenarios.curriculum``): ``fixed`` (one tier), ``mixed`` (a weighted mix),
``easy_to_hard`` (a schedule over episodes) and ``adaptive`` (promote when the success rate over a
window passes a threshold). Parameters a kind does not use are ignored by it. Every trial is scored
by the same fixed held-out evaluation on ``procedural-test`` (whose tiers are uniform over
easy / medium / hard) — decision accuracy is the metric; Brier, ECE, credits used are reported.

With ``--algo grpo_tiny_cpu`` the trials are ``DrugGRPO`` runs from one shared SFT warm start,
scored by RLlib's own evaluation on the held-out suite (``evaluation/env_runners/decision_accuracy``);
``adaptive`` is left out (a GRPO group's tier is drawn before its episodes are played).

Outputs in ``runs/sweeps/curriculum/``: as for ``tune_sweeps/reward_weights``.
"""

from __future__ import annotations

from typing import Any

from drugenv.tuning.sweep import PPO_TRIAL_ASHA, PPO_TRIAL_BUDGET

NAME = "curriculum"
METRIC = "heldout/decision_accuracy"
MODE = "max"
NUM_SAMPLES = 8
ALGO = "ppo_vector"

BASE_OVERRIDES: dict[str, Any] = PPO_TRIAL_BUDGET  # 30 iterations, 100 held-out episodes every 5, lr 1e-3
ASHA: dict[str, Any] = PPO_TRIAL_ASHA

KEY_PARAMS: tuple[str, ...] = (
    "env_config.curriculum.kind",
    "env_config.curriculum.weights",
    "env_config.curriculum.schedule_episodes",
    "env_config.curriculum.promote_threshold",
    "env_config.curriculum.window",
)


GRPO_BASE_OVERRIDES: dict[str, Any] = {
    # 12 iterations of 16 episodes each; held-out evaluation every 4 (= ASHA rounds) on 32 episodes.
    "run": {"iterations": 12, "eval_interval": 4, "curve_eval_episodes": 32},
    # One env runner (4 lockstep envs): a trial then asks for 2 CPUs, the driver's and the runner's,
    # which `drugenv sweep`'s default --num-cpus 2 has (the config's 2 runners asked for 3: no trial started).
    "env_runners": {"num_env_runners": 1, "num_envs_per_env_runner": 4},
}
"""``--algo grpo_*``: settings every trial shares (over the GRPO config's defaults)."""


def search_space(algo: str = "ppo_vector") -> dict[str, Any]:
    """Nested overrides with Tune search primitives at the leaves (of ``algo``'s settings)."""
    from ray import tune

    if algo.startswith("grpo"):
        return {
            "training": {
                "curriculum": {
                    "kind": tune.choice(["fixed", "mixed", "easy_to_hard"]),
                    "tiers": ["easy", "medium", "hard"],
                    "weights": tune.choice([[1.0, 1.0, 1.0], [2.0, 1.0, 1.0], [1.0, 1.0, 2.0]]),
                    "schedule_episodes": tune.choice([96, 192]),  # 6 or 12 iterations of 16 episodes
                    "review_prob": 0.2,
                }
            }
        }
    return {
        "env_config": {
            "curriculum": {
                "kind": tune.choice(["fixed", "mixed", "easy_to_hard", "adaptive"]),
                "tiers": ["easy", "medium", "hard"],
                "weights": tune.choice([[1.0, 1.0, 1.0], [2.0, 1.0, 1.0], [1.0, 1.0, 2.0]]),
                "schedule_episodes": tune.choice([1000, 3000]),
                "promote_threshold": tune.choice([0.6, 0.7, 0.8]),
                "window": tune.choice([30, 100]),
                "review_prob": 0.2,
            }
        }
    }
