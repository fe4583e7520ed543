"""GRPO's learner connector: DrugEnv episodes → padded, token-level training rows with advantages.

It sits where PPO's ``GeneralAdvantageEstimation`` sits: ``DrugGRPOLearner.build`` appends it to
the learner connector pipeline, so ``learner_group.update(episodes=...)`` turns the env runners'
``SingleAgentEpisode`` s into the batch ``compute_loss_for_module`` reads. RLlib's default
pieces are off (``add_default_connectors_to_learner_pipeline = False``): turns have ragged
prompt and completion lengths, which RLlib's generic batching cannot stack, so this piece pads
them itself and hands numpy columns to ``NumpyToTensor``.

Episodes carry ``custom_data["group_id"]``; the G episodes of a group were played from the same
scenario seed. The advantage of a turn is group-relative (``losses.group_advantages`` per episode,
``losses.turn_advantages`` per turn), so a group must reach the learner whole: ``DrugGRPO`` sends
each group as one object-store reference, and RLlib's learner sharding splits the list of
references, never a group.

| column              | dtype   | shape      | meaning                                                      |
|---------------------|---------|------------|--------------------------------------------------------------|
| ``input_ids``       | int64   | (B, P + C) | prompt ids left-padded to P, then completion ids right-padded to C |
| ``attention_mask``  | int64   | (B, P + C) | 1 on real tokens                                             |
| ``completion_mask`` | float32 | (B, C)     | 1 on completion tokens (incl. the stop token the model emitted) |
| ``old_logp``        | float32 | (B, C)     | behaviour log-probs recorded at generation time              |
| ``advantages``      | float32 | (B,)       | the turn's group-relative advantage                          |
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core import DEFAULT_MODULE_ID

from drugenv.training import metrics as M
from drugenv.training.env_runner import COMPLETION_LOGP
from drugenv.training.losses import ADVANTAGE_MODES, group_advantages, scale_by_std_for, turn_advantages
from drugenv.training.rl_module import ADVANTAGES, ATTENTION_MASK, COMPLETION_MASK, INPUT_IDS, OLD_LOGP


def by_group(episodes: Sequence[Any]) -> List[List[Any]]:
    """Episodes grouped by ``custom_data["group_id"]``, groups in order of first appearance."""
    groups: Dict[Any, List[Any]] = {}
    for ep in episodes:
        groups.setdefault(ep.custom_data["group_id"], []).append(ep)
    return list(groups.values())


def turn_rewards(ep: Any) -> List[float]:
    return [float(r) for r in ep.get_rewards(slice(0, len(ep)))]


def group_turn_advantages(group: Sequence[Any], *, advantage: str, loss_type: str, gamma: float) -> List[np.ndarray]:
    """One float32 array per episode of ``group``, one advantage per turn (see the module docstring)."""
    if advantage not in ADVANTAGE_MODES:
        raise ValueError(f"advantage={advantage!r}; valid choices are {list(ADVANTAGE_MODES)}.")
    scale = scale_by_std_for(loss_type)
    if advantage == "episode":
        adv = group_advantages([float(ep.get_return()) for ep in group], len(group), scale_by_std=scale)
        return [np.full(len(ep), a, dtype=np.float32) for ep, a in zip(group, adv)]
    return turn_advantages([turn_rewards(ep) for ep in group], len(group), gamma=gamma, scale_by_std=scale)


def has_signal(group: Sequence[Any], *, advantage: str, loss_type: str, gamma: float) -> bool:
    """True when any turn of the group has a non-zero advantage (DAPO's dynamic-sampling test)."""
    return any(a.any() for a in group_turn_advantages(group, advantage=advantage, loss_type=loss_type, gamma=gamma))


def turn_rows(episodes: Sequence[Any], *, advantage: str, loss_type: str, gamma: float,
              pad_token_id: int = 0) -> tuple[Dict[str, np.ndarray], Dict[str, float]]:
    """The training columns (module docstring table) of every turn of ``episodes``, and statistics."""
    rows = []
    for group in by_group(episodes):
        for ep, advs in zip(group, group_turn_advantages(group, advantage=advantage, loss_type=loss_type, gamma=gamma)):
            prompts = ep.get_observations(slice(0, len(ep)))
            comps = ep.get_actions(slice(0, len(ep)))
            logps = ep.get_extra_model_outputs(COMPLETION_LOGP, slice(0, len(ep)))
            rows.extend(zip(prompts, comps, logps, advs))
    p_len = max((len(p) for p, *_ in rows), default=1)
    c_len = max(max((len(c) for _, c, *_ in rows), default=1), 1)
    n = len(rows)
    input_ids = np.full((n, p_len + c_len), pad_token_id, dtype=np.int64)
    attn = np.zeros((n, p_len + c_len), dtype=np.int64)
    cmask = np.zeros((n, c_len), dtype=np.float32)
    old_logp = np.zeros((n, c_len), dtype=np.float32)
    adv = np.zeros((n,), dtype=np.float32)
    for i, (p, c, lp, a) in enumerate(rows):
        input_ids[i, p_len - len(p) : p_len] = p
        attn[i, p_len - len(p) : p_len] = 1
        input_ids[i, p_len : p_len + len(c)] = c
        attn[i, p_len : p_len + len(c)] = 1
        cmask[i, : len(c)] = 1.0
        old_logp[i, : len(c)] = lp
        adv[i] = a
    stats = {M.ADVANTAGE_ABS_MEAN: float(np.abs(adv).mean()) if n else 0.0, M.NUM_TRAIN_TURNS: float(n)}
    return {INPUT_IDS: input_ids, ATTENTION_MASK: attn, COMPLETION_MASK: cmask, OLD_LOGP: old_logp, ADVANTAGES: adv}, stats


class GroupRelativeAdvantages(ConnectorV2):
    """Learner connector piece: episodes → ``batch[module_id]`` columns with group-relative advantages.

    Args:
        advantage: ``"episode"`` or ``"turn"`` (``DrugGRPOConfig.training(advantage=...)``).
        loss_type: decides whether advantages are divided by the group std.
        gamma: discount of the turn-level reward-to-go.
        pad_token_id: id written into padding (never attended to, never in the loss).
    """

    def __init__(self, input_observation_space=None, input_action_space=None, *, advantage: str = "episode",
                 loss_type: str = "dapo", gamma: float = 1.0, pad_token_id: int = 0, **kwargs):
        super().__init__(input_observation_space, input_action_space, **kwargs)
        self.advantage, self.loss_type, self.gamma, self.pad_token_id = advantage, loss_type, float(gamma), int(pad_token_id)

    def __call__(self, *, rl_module, batch, episodes, explore=None, shared_data=None, metrics=None, **kwargs):
        eps = list(self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False))
        columns, stats = turn_rows(eps, advantage=self.advantage, loss_type=self.loss_type, gamma=self.gamma,
                                   pad_token_id=self.pad_token_id)
        batch[DEFAULT_MODULE_ID] = columns
        if metrics is not None:
            for key, value in stats.items():
                metrics.log_value((DEFAULT_MODULE_ID, key), value, window=1)
        return batch


__all__ = ["GroupRelativeAdvantages", "by_group", "group_turn_advantages", "has_signal", "turn_rows"]
