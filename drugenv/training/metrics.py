"""Metric keys logged by DrugGRPO, as constants (listed with meanings in ``docs/grpo.md``).

Namespaces: ``env/`` (rollouts), ``reward/`` (returns and advantages), ``losses/`` (learner),
``timers/`` (phase wall-clock), ``sync/`` (adapter weight broadcast).
"""

from __future__ import annotations

# Rollouts (env runners).
EPISODE_RETURN_MEAN = "env/episode_return_mean"
EPISODE_RETURN_MIN = "env/episode_return_min"
EPISODE_RETURN_MAX = "env/episode_return_max"
EPISODE_LEN_MEAN = "env/episode_len_mean"
NUM_EPISODES = "env/num_episodes"
NUM_TURNS = "env/num_turns"
PARSE_FAILURE_RATE = "env/parse_failure_rate"
REPORT_RATE = "env/report_rate"  # episodes ended by a submitted report
COMPLETION_LEN_MEAN = "env/completion_len_mean"
TRUNCATED_COMPLETION_RATE = "env/truncated_completion_rate"
NUM_GROUPS_RETRIED = "env/num_groups_retried"

# Advantages.
ADVANTAGE_ABS_MEAN = "reward/advantage_abs_mean"
FRAC_ZERO_STD_GROUPS = "reward/frac_zero_std_groups"
GROUP_RETURN_STD_MEAN = "reward/group_return_std_mean"
NUM_TRAIN_TURNS = "reward/num_train_turns"  # turns sent to the learner (after dropping zero-std groups)

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

# Phase timers (seconds, per training_step).
TIMER_ROLLOUT = "timers/rollout"
TIMER_ADVANTAGES = "timers/advantages"
TIMER_LEARNER = "timers/learner"
TIMER_SYNC = "timers/sync"

# Weight sync.
ADAPTER_BYTES = "sync/adapter_bytes"

__all__ = sorted(
    [
        "ADAPTER_BYTES",
        "ADVANTAGE_ABS_MEAN",
        "CLIP_FRACTION",
        "COMPLETION_LEN_MEAN",
        "EPISODE_LEN_MEAN",
        "EPISODE_RETURN_MAX",
        "EPISODE_RETURN_MEAN",
        "EPISODE_RETURN_MIN",
        "FRAC_ZERO_STD_GROUPS",
        "GRAD_NORM",
        "GROUP_RETURN_STD_MEAN",
        "KL",
        "LOSS",
        "NUM_COMPLETION_TOKENS",
        "NUM_EPISODES",
        "NUM_GROUPS_RETRIED",
        "NUM_TRAIN_TURNS",
        "NUM_TURNS",
        "PARSE_FAILURE_RATE",
        "POLICY_LOSS",
        "RATIO_MAX",
        "RATIO_MEAN",
        "RATIO_MIN",
        "REPORT_RATE",
        "TIMER_ADVANTAGES",
        "TIMER_LEARNER",
        "TIMER_ROLLOUT",
        "TIMER_SYNC",
        "TRUNCATED_COMPLETION_RATE",
    ]
)
