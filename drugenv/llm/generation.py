"""The one sampler: left-padded prompt token ids in, completion ids + per-token log-probs + truncated flags out.

Every completion in DrugEnv comes from ``generate_completions``: evaluation, run-agent, the Serve
agent and SFT's checks through ``policy.HFGenerateBackend``, and GRPO rollouts through
``training.rl_module.DrugLLMRLModule.generate``. So training and evaluation sample with one
stop rule and one log-prob convention:

- **Stop rule**: the caller passes ``stop_ids`` (``drugenv.llm.stopping.stop_token_ids``: the
  tokenizer's eos plus the model's generation-config eos ids; Qwen2.5-Instruct has two).
  ``generate`` stops a row at any of them; the completion keeps the stop token and is cut there
  (``cut_at_stop``); a row with none within ``max_new_tokens`` is ``truncated``.
- **Decoding**: ``temperature == 0`` is greedy; otherwise sampling at ``temperature`` with
  optional ``top_k`` (0 = off) / ``top_p`` (1.0 = off). A repetition penalty in the model's own
  generation config (Qwen2.5-Instruct ships 1.05-1.1) is turned off: it reshapes the distribution a
  token is drawn from, which the recorded log-prob below would not be, so GRPO's ratio would be 1 for
  data drawn off-policy, and greedy evaluation would not pick the policy's own argmax.
- **Log-probs**: ``log_softmax(raw logits / temperature)`` of each emitted token (greedy: of the raw
  logits), before any top-k/top-p truncation, i.e. what ``training.logprobs.completion_logprobs``
  recomputes for the importance ratio.

Only torch and ``drugenv.llm.stopping`` are imported (no transformers, no Ray): ``model`` is any
module with Hugging Face's ``generate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from drugenv.llm.stopping import cut_at_stop


@dataclass
class Completions:
    """``generate_completions``' result: one entry per prompt, in order."""

    completion_ids: list[list[int]]
    """Generated tokens up to and including the first stop token (no padding)."""
    logprobs: list[list[float]]
    """Per completion token: ``log_softmax(logits / temperature)`` of that token."""
    truncated: list[bool]
    """True when no stop token came within ``max_new_tokens``."""


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    """``(input_ids, attention_mask)``, both ``(B, max len)`` long tensors on the CPU: each row
    right-aligned after ``pad_id`` padding, the layout ``generate`` and ``completion_logprobs`` expect."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.as_tensor(list(r), dtype=torch.long)
        attn[i, width - len(r):] = 1
    return ids, attn


def generate_completions(
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    stop_ids: Iterable[int],
    pad_id: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
) -> Completions:
    """One completion per prompt, in one batched ``model.generate`` call (see the module docstring).

    Args:
        model: a causal LM (plain or peft-wrapped) with ``generate``, used in the mode it is in
            (callers sample in eval mode: ``load_model_and_tokenizer`` returns one, the RLModule switches).
        prompts: prompt token ids, any lengths (left-padded here with ``pad_id``).
        stop_ids: token ids that end a completion (``stopping.stop_token_ids``).
        pad_id: padding token id.
        max_new_tokens: completion cap, tokens.
        temperature: 0 = greedy, else the sampling temperature.
        top_p, top_k: nucleus mass (1.0 = off) and top-k (0 = off); sampling only.
    """
    import torch

    stops = sorted({int(s) for s in stop_ids})
    ids, attn = left_pad(prompts, pad_id)  # (B, P)
    width = ids.shape[1]
    device = next(model.parameters()).device
    greedy = temperature == 0
    kwargs: dict[str, Any] = dict(
        max_new_tokens=int(max_new_tokens), do_sample=not greedy, pad_token_id=pad_id, eos_token_id=stops,
        return_dict_in_generate=True, output_logits=True, repetition_penalty=1.0,  # 1.0: none (module docstring)
    )
    if greedy:  # None: no sampling warpers (the model's generation config would otherwise supply them)
        kwargs.update(temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(temperature=float(temperature), top_p=float(top_p), top_k=int(top_k))
    with torch.inference_mode():
        res = model.generate(input_ids=ids.to(device), attention_mask=attn.to(device), **kwargs)
    seqs = res.sequences[:, width:].cpu()  # (B, C)
    logits = torch.stack(res.logits, dim=1).float().cpu()  # (B, C, V) raw logits
    if not greedy:
        logits = logits / temperature
    token_lp = torch.log_softmax(logits, dim=-1).gather(-1, seqs[..., None]).squeeze(-1)  # (B, C)
    comps, lps, trunc = [], [], []
    for r in range(seqs.shape[0]):
        comp, stopped = cut_at_stop(seqs[r].tolist(), stops)
        comps.append(comp)
        lps.append(token_lp[r, :len(comp)].tolist())
        trunc.append(not stopped)
    return Completions(comps, lps, trunc)


__all__ = ["Completions", "generate_completions", "left_pad"]
