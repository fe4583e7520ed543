"""``--agent checkpoint:PATH``: a trained agent from a training checkpoint directory.

A GRPO checkpoint carries ``drugenv_checkpoint.json`` (which model the adapter belongs to) and the
adapter in peft format under ``adapter/``; it loads as an ``HFPolicy`` (greedy). A PPO checkpoint
loads its RLModule and acts on the vector env's features.

``resolve_adapter_checkpoint`` turns a GRPO checkpoint, or a bare peft adapter directory, into the
``(base model, adapter)`` pair the Serve agent loads; it reads only small JSON files, so the CLI can
check a path before Ray or a model starts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from drugenv.agents.base import Policy
from drugenv.errors import ConfigError


def require_existing(path: str | Path, what: str = "checkpoint") -> Path:
    """``path`` as a ``Path``; ``ConfigError`` (one line: what, why, fix) when it does not exist."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ConfigError(f"{what} {str(path)!r} does not exist; pass a run's checkpoint directory, "
                          f"e.g. runs/grpo_tiny_cpu/checkpoint_final")
    return p


def resolve_adapter_checkpoint(path: str | Path, model: Optional[str] = None) -> tuple[str, str, dict[str, Any]]:
    """``(base model, adapter dir, checkpoint metadata)`` for a GRPO checkpoint or a peft adapter directory.

    The base model is ``model`` when given, else ``base_model_name_or_path`` from the adapter's
    ``adapter_config.json``, else the ``model`` recorded in ``drugenv_checkpoint.json``.
    """
    p = require_existing(path)
    adapter = p / "adapter" if (p / "adapter" / "adapter_config.json").is_file() else p
    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"{path} holds no LoRA adapter (no adapter_config.json in it or in {p / 'adapter'}); pass a GRPO "
                          "run's checkpoint directory (e.g. runs/grpo_tiny_cpu/checkpoint_final) or a peft adapter directory")
    meta_file = adapter.parent / "drugenv_checkpoint.json"
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    base = model or json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path") or meta.get("model")
    if not base:
        raise ConfigError(f"{adapter / 'adapter_config.json'} names no base model (base_model_name_or_path is empty); "
                          "pass it with --model PATH_OR_HUB_ID")
    return str(base), str(adapter.resolve()), meta


def load_checkpoint_policy(path: str | Path, **kwargs: Any) -> Policy:
    p = require_existing(path)
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
    raise ConfigError(f"{path} is neither a DrugEnv GRPO checkpoint (no drugenv_checkpoint.json) nor an RLlib PPO checkpoint; "
                      "pass a checkpoint_* directory of a drugenv train run")
