"""Metric keys logged by DrugGRPO, as constants (listed with meanings in ``docs/grpo.md``).

Where they appear in ``Algorithm.train()``'s result: the env runners' keys under ``env_runners/``
(beside RLlib's own ``episode_return_mean``, ``num_env_steps_sampled``, ...), the evaluation
runners' under ``evaluation/env_runners/``, the advantage connector's and the loss's under
``learners/default_policy/``, and the phase timers under ``timers/`` (RLlib's names).
"""

from __future__ import annotations

# Rollouts (env runners; RLlib's own episode_return_mean/min/max, episode_len_mean, num_episodes
# and num_env_steps_sampled (= agent turns) sit beside them).
PARSE_FAILURE_RATE = "parse_failure_rate"  # turns whose text was not a valid action
REPORT_RATE = "report_rate"  # episodes ended by a submitted report
COMPLETION_LEN_MEAN = "completion_len_mean"  # tokens generated per turn
TRUNCATED_COMPLETION_RATE = "truncated_completion_rate"  # turns that hit max_new_tokens
GENERATE_S = "generate_s"  # seconds spent in generation, per sample() call (summed over calls)
ENV_S = "env_s"  # seconds spent in env.reset/step
SET_STATE_S = "set_state_s"  # seconds to load a pushed adapter
# Held-out evaluation only (evaluation/env_runners/): drugenv.evaluation.metrics' per-episode
# means, scored from env.outcome() after each episode (ECE, a binned statistic, is not one of them).
HELDOUT_EPISODE_MEANS = ("decision_accuracy", "brier", "terminal_reward", "evidence_coverage", "credits_used",
                         "decision_utility")

# Groups (algorithm, under env_runners/: the sampling-stage filter) and advantages (the learner
# connector, under learners/default_policy/).
NUM_GROUPS_SAMPLED = "num_groups_sampled"  # complete groups that came back (a lost runner loses its groups)
FRAC_ZERO_STD_GROUPS = "frac_zero_std_groups"  # groups without any non-zero advantage
GROUP_RETURN_STD_MEAN = "group_return_std_mean"
ADVANTAGE_ABS_MEAN = "reward/advantage_abs_mean"
NUM_TRAIN_TURNS = "reward/num_train_turns"  # turn rows sent to the loss

# Learner (logged per module under the learner results).
LOSS = "losses/loss"
POLICY_LOSS = "losses/policy_loss"
KL = "losses/kl"
CLIP_FRACTION = "losses/clip_fraction"
RATIO_MEAN = "losses/ratio_mean"
RATIO_MIN = "losses/ratio_min"
RATIO_MAX = "losses/ratio_max"
GRAD_NORM = "losses/grad_norm"
NUM_COMPLETION_TOKENS = "losses/num_completion_tokens"


# Not a metric: the key under which DrugGRPO hands the learner its iteration in Learner.update's
# ``timesteps`` (the learner seeds its minibatch shuffle with it: training.learner.numpy_global_seed).
TRAINING_ITERATION = "drugenv_training_iteration"


# A GRPO run's metrics.jsonl (one row per iteration, written by training.grpo_train): short, stable
# column names (the curve plot, the dashboard and committed results read them) and where each one
# sits in Algorithm.train()'s flattened result.
CURVE_RETURN = "env/episode_return_mean"
CURVE_PARSE_FAILURE_RATE = "env/parse_failure_rate"
CURVE_REPORT_RATE = "env/report_rate"
CURVE_FRAC_ZERO_STD_GROUPS = "reward/frac_zero_std_groups"
CURVE_NUM_GROUPS_SAMPLED = "reward/num_groups_sampled"  # fewer than groups_per_iteration: a runner was lost
CURVE_TIMER_ROLLOUT = "timers/rollout"
CURVE_TIMER_LEARNER = "timers/learner"
CURVE_TIMER_SYNC = "timers/sync"
CURVE_TIMER_GENERATE = "timers/generate"
CURVE_TIMER_ENV = "timers/env"
CURVE_COLUMNS = {
    CURVE_RETURN: "env_runners/episode_return_mean",
    CURVE_PARSE_FAILURE_RATE: f"env_runners/{PARSE_FAILURE_RATE}",
    CURVE_REPORT_RATE: f"env_runners/{REPORT_RATE}",
    CURVE_FRAC_ZERO_STD_GROUPS: f"env_runners/{FRAC_ZERO_STD_GROUPS}",
    CURVE_NUM_GROUPS_SAMPLED: f"env_runners/{NUM_GROUPS_SAMPLED}",
    LOSS: f"learners/default_policy/{LOSS}",
    KL: f"learners/default_policy/{KL}",
    CLIP_FRACTION: f"learners/default_policy/{CLIP_FRACTION}",
    GRAD_NORM: f"learners/default_policy/{GRAD_NORM}",
    CURVE_TIMER_ROLLOUT: "timers/env_runner_sampling_timer",
    CURVE_TIMER_LEARNER: "timers/learner_update_timer",
    CURVE_TIMER_SYNC: "timers/synch_weights",
    CURVE_TIMER_GENERATE: f"env_runners/{GENERATE_S}",
    CURVE_TIMER_ENV: f"env_runners/{ENV_S}",
}
# Held-out columns, from RLlib's evaluation (evaluation/env_runners/), on the iterations it ran. The
# prefix marks a held-out column in every run's metrics.jsonl (PPO's too) and in a sweep's table.
HELDOUT_PREFIX = "heldout/"
HELDOUT_CURVE_COLUMNS = {
    HELDOUT_PREFIX + "mean_return": "evaluation/env_runners/episode_return_mean",
    HELDOUT_PREFIX + REPORT_RATE: f"evaluation/env_runners/{REPORT_RATE}",
    HELDOUT_PREFIX + "steps": "evaluation/env_runners/episode_len_mean",
    HELDOUT_PREFIX + PARSE_FAILURE_RATE: f"evaluation/env_runners/{PARSE_FAILURE_RATE}",
    **{HELDOUT_PREFIX + k: f"evaluation/env_runners/{k}" for k in HELDOUT_EPISODE_MEANS},
}

__all__ = sorted(k for k, v in list(globals().items()) if k.isupper() and isinstance(v, (str, tuple, dict)))
