"""Completion log-probs and dtype names: the torch-only part of ``DrugLLMRLModule`` (no Ray).

``benchmarks/gpu_grpo.py`` imports these on a GPU machine without Ray, so the benchmark's learner
step computes exactly what the RLlib learner computes.
"""

from __future__ import annotations

from typing import Union

import torch

from drugenv.llm.loading import DTYPES

_DTYPES = {name: getattr(torch, name) for name in DTYPES}


def resolve_dtype(name: Union[str, torch.dtype]) -> torch.dtype:
    """``"float32" | "bfloat16" | "float16"`` → torch dtype."""
    if isinstance(name, torch.dtype):
        return name
    if name not in _DTYPES:
        raise ValueError(f"Unknown dtype {name!r}; valid choices are {sorted(_DTYPES)}.")
    return _DTYPES[name]


def completion_logprobs(
    lm: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    num_completion: int,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Log-probs of the last ``num_completion`` tokens of each row, ``(B, C)``.

    Only ``C + 1`` positions of logits are materialised (``logits_to_keep``). Position ids are
    ``cumsum(attention_mask) - 1`` so left-padded rows see the same positions as in ``generate``.
    Logits are divided by ``temperature`` before the softmax, as the sampler does.
    """
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    out = lm(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        logits_to_keep=num_completion + 1,
        use_cache=False,
    )
    logits = out.logits[:, :-1, :].float() / temperature  # (B, C, V)
    targets = input_ids[:, -num_completion:]  # (B, C)
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


__all__ = ["completion_logprobs", "resolve_dtype"]
