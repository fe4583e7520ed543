"""Shared shape of the GRPO configs in ``rllib_configs/`` (one nested dict each, overridable with --set).

| key          | what it sets                                                                      |
|--------------|-----------------------------------------------------------------------------------|
| model        | base model: a local path, a hub id, or ``tiny`` / ``tiny:L4H256`` (built offline) |
| sft          | warm-start on oracle trajectories before GRPO (``enabled``, ``mode`` full|lora, …) |
| training     | ``DrugGRPOConfig.training`` keyword arguments (see its docstring)                |
| env_runners  | ``.env_runners(...)``: actors and environments per actor                        |
| learners     | ``.learners(...)``: number of learners, GPUs per learner                        |
| run          | the train loop: iterations, held-out eval and checkpoint intervals              |
| seed         | RLlib's ``debugging(seed=...)``                                                   |
"""

from __future__ import annotations

import copy
from typing import Any, Mapping, Optional


def merge(base: Mapping[str, Any], overrides: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """Deep-merge ``overrides`` into a copy of ``base`` (dicts merge, everything else replaces)."""
    out = copy.deepcopy(dict(base))
    for k, v in (overrides or {}).items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def settings(defaults: Mapping[str, Any], overrides: Optional[Mapping[str, Any]], algo: str = "grpo") -> dict[str, Any]:
    """``defaults`` with ``overrides`` merged in; unknown top-level keys and another algo's overrides raise."""
    unknown = set(overrides or {}) - set(defaults) - {"algo"}
    if unknown:
        raise ValueError(f"unknown {algo} settings {sorted(unknown)}; expected some of {sorted(defaults)}")
    if overrides and overrides.get("algo", algo) != algo:
        raise ValueError(f"these overrides are for algo {overrides['algo']!r}, not {algo!r}")
    return merge(defaults, {k: v for k, v in (overrides or {}).items() if k != "algo"})


def build_config(s: Mapping[str, Any], model_path: str):
    """The ``DrugGRPOConfig`` for settings ``s``, training the model at ``model_path``."""
    from drugenv.simulator.params import RewardConfig
    from drugenv.training import DrugGRPOConfig

    training = dict(s["training"])
    if isinstance(training.get("reward_config"), Mapping):
        training["reward_config"] = RewardConfig(**training["reward_config"])
    return (
        DrugGRPOConfig()
        .training(model_name_or_path=model_path, **training)
        .env_runners(**s["env_runners"])
        .learners(**s["learners"])
        .debugging(seed=s["seed"])
    )
