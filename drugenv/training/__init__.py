"""Multi-turn LoRA-GRPO for DrugEnv inside Ray RLlib (new API stack).

``DrugGRPOConfig`` → ``DrugGRPO`` (Algorithm) with ``DrugEnvRunner`` actors for rollouts,
``DrugGRPOLearner`` (TorchLearner) for the loss and ``DrugLLMRLModule`` (HF model + LoRA) as the
policy; ``losses`` holds the pure objective and advantages. See ``docs/grpo.md``.

Heavy imports (ray, torch, transformers) happen when these names are first used.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "DrugGRPO": "drugenv.training.grpo",
    "DrugGRPOConfig": "drugenv.training.grpo_config",
    "DrugEnvRunner": "drugenv.training.env_runner",
    "DrugGRPOLearner": "drugenv.training.learner",
    "DrugLLMRLModule": "drugenv.training.rl_module",
    "group_advantages": "drugenv.training.losses",
    "grpo_loss": "drugenv.training.losses",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'drugenv.training' has no attribute {name!r}")
