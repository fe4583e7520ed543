"""The agent registry: an ``--agent`` string to a ``Policy``.

``drugenv eval --agent``, the dashboard's "play an episode" form and anything else that names agents
by string go through ``make_policy``:

| spec               | policy                                                                          |
|--------------------|---------------------------------------------------------------------------------|
| ``random``, ``heuristic``, ``expression_only``, ``oracle`` | the baselines (``agents.baselines.BASELINES``) |
| ``hf``             | ``HFPolicy`` of ``--model`` / ``$RUN_AGENT_MODEL_ID`` (``llm.run_agent.make_hf_policy``) |
| ``checkpoint:PATH``| a GRPO checkpoint (``llm.checkpoint``) or a PPO checkpoint (``training.ppo``)    |

This module sits above ``agents/``, ``llm/`` and ``training/`` and imports each lazily, so a
baseline needs neither torch nor Ray.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from drugenv.agents.base import Policy
from drugenv.errors import ConfigError


def load_checkpoint_policy(path: str | Path, **kwargs: Any) -> Policy:
    """``--agent checkpoint:PATH``: a GRPO checkpoint as a greedy ``HFPolicy``, a PPO checkpoint as its RLModule."""
    from drugenv.llm.checkpoint import is_grpo_checkpoint, load_grpo_checkpoint_policy, require_existing, resolve_checkpoint_dir

    p = resolve_checkpoint_dir(require_existing(path))  # a run's folder: its checkpoint_final
    if is_grpo_checkpoint(p):
        return load_grpo_checkpoint_policy(p, **kwargs)
    from drugenv.training.ppo import is_ppo_checkpoint, load_ppo_checkpoint_policy

    if is_ppo_checkpoint(p):
        return load_ppo_checkpoint_policy(p, **kwargs)
    raise ConfigError(f"{path} is neither a DrugEnv GRPO checkpoint (no drugenv_checkpoint.json with algo 'grpo') nor an RLlib PPO checkpoint; "
                      "pass a checkpoint_* directory of a drugenv train run")


def make_policy(spec: str, *, model: Optional[str] = None, adapter: Optional[str] = None, seed: int = 0, **kwargs: Any) -> Policy:
    """Build a policy from an ``--agent`` string (see the module docstring); ``UnknownScenarioError`` for others."""
    from drugenv.agents.baselines import BASELINES

    if spec in BASELINES:
        cls = BASELINES[spec]
        try:
            return cls(seed=seed, **kwargs) if spec == "random" else cls(**kwargs)
        except TypeError as e:  # an --extra key the agent does not take (or takes from another flag)
            raise ConfigError(f"agent {spec!r} does not take --extra {', '.join(sorted(kwargs))}: {e}") from None
    if spec == "hf":
        import os

        from drugenv.llm.run_agent import MODEL_ENV_VAR, make_hf_policy

        # Same precedence as run-agent: --model, else $RUN_AGENT_MODEL_ID; "tiny" builds the offline model.
        if not (model or os.environ.get(MODEL_ENV_VAR)):
            raise ConfigError(f"--agent hf needs a model: pass --model PATH_OR_HUB_ID (or set ${MODEL_ENV_VAR}), "
                              "e.g. --model tiny for the offline tiny model")
        import inspect

        takes = [n for n, p in inspect.signature(make_hf_policy).parameters.items() if p.kind is p.KEYWORD_ONLY and n != "seed"]
        unknown = sorted(set(kwargs) - set(takes))
        if unknown:
            raise ConfigError(f"agent 'hf' does not take --extra {', '.join(unknown)}; it takes {', '.join(takes)}")
        # --seed seeds the sampling too: each completion from (seed, its episode, its step), so the same seed gives
        # the same episodes and the same completions at any --batch-size (llm.policy.row_seed).
        return make_hf_policy(model, adapter, seed=seed, **kwargs)  # a model that cannot be loaded is a ConfigError there
    if spec.startswith("checkpoint:"):
        return load_checkpoint_policy(spec.split(":", 1)[1], **kwargs)
    from drugenv.errors import UnknownScenarioError

    raise UnknownScenarioError(spec, [*BASELINES, "hf", "checkpoint:PATH"], kind="agent")


__all__ = ["load_checkpoint_policy", "make_policy"]
