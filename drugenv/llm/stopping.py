"""One stop rule for every sampler: training rollouts (``DrugLLMRLModule.generate``) and evaluation,
run-agent and Serve (``HFGenerateBackend``).

Qwen2.5-Instruct ends a turn with ``<|im_end|>`` (its tokenizer's eos) but its generation config
also lists ``<|endoftext|>``: a sampler that stops only at the tokenizer's eos would run past a
completion the other one ends, so training and evaluation would play different games.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence


def stop_token_ids(tokenizer: Any, model: Optional[Any] = None) -> list[int]:
    """Every token id that ends a completion: the tokenizer's eos plus the model's generation-config eos id(s), sorted."""
    ids: set[int] = set()
    for source in (getattr(tokenizer, "eos_token_id", None),
                   getattr(getattr(model, "generation_config", None), "eos_token_id", None)):
        if isinstance(source, int):
            ids.add(source)
        elif isinstance(source, Iterable):
            ids.update(int(t) for t in source if t is not None)
    if not ids:
        raise ValueError("neither the tokenizer nor the model's generation config defines an eos token id")
    return sorted(ids)


def cut_at_stop(tokens: Sequence[int], stop_ids: Iterable[int]) -> tuple[list[int], bool]:
    """``(tokens up to and including the first stop token, whether one was found)``."""
    stops = set(stop_ids)
    for t, tok in enumerate(tokens):
        if tok in stops:
            return list(tokens[: t + 1]), True
    return list(tokens), False


__all__ = ["cut_at_stop", "stop_token_ids"]
