"""``--agent checkpoint:PATH``: a trained agent from a training checkpoint directory.

A GRPO checkpoint carries ``drugenv_checkpoint.json`` (which model the adapter belongs to) and the
adapter in peft format under ``adapter/``; it loads as an ``HFPolicy`` (greedy). A PPO checkpoint
loads its RLModule and acts on the vector env's features.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drugenv.agents.base import Policy
from drugenv.errors import ConfigError


def load_checkpoint_policy(path: str | Path, **kwargs: Any) -> Policy:
    p = Path(path)
    meta_file = p / "drugenv_checkpoint.json"
    if meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if meta.get("algo") == "grpo":
            from drugenv.llm.policy import HFPolicy, SamplingConfig

            run = meta.get("settings", {}).get("run", {})
            return HFPolicy(meta["model"], adapter=str(p / "adapter"),
                            sampling=SamplingConfig(temperature=0.0, max_new_tokens=int(run.get("eval_max_new_tokens", 128))),
                            max_prompt_tokens=int(run.get("eval_max_prompt_tokens", 2048)), **kwargs)
    from drugenv.training.ppo import is_ppo_checkpoint, load_ppo_checkpoint_policy

    if is_ppo_checkpoint(p):
        return load_ppo_checkpoint_policy(p, **kwargs)
    raise ConfigError(f"{path} is neither a DrugEnv GRPO checkpoint (no drugenv_checkpoint.json) nor an RLlib PPO checkpoint")
