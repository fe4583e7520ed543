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
  optional ``top_k`` (0 = off) / ``top_p`` (1.0 = off), and nothing else. Whatever else the model's own
  generation config carries that reshapes or forbids tokens is turned off (``_NEUTRAL``): other warpers
  (``min_p``, ``typical_p``...), a repetition penalty (Qwen2.5-Instruct ships 1.05-1.1), a minimum length,
  suppressed or banned tokens, n-gram blocking, beams. Each reshapes the distribution a token is drawn
  from, which the recorded log-prob below would not be, so GRPO's ratio would be 1 for data drawn
  off-policy, and greedy evaluation would not pick the policy's own argmax.
- **Log-probs**: ``log_softmax(raw logits / temperature)`` of each emitted token (greedy: of the raw
  logits), before any top-k/top-p truncation, i.e. what ``training.logprobs.completion_logprobs``
  recomputes for the importance ratio.
- **Row seeds** (``row_seeds``, sampling only): each row draws from a stream of its own, seeded by its
  seed, instead of torch's one process stream, so a completion depends on its prompt and seed, not on
  the rows batched beside it or on what the process sampled before (evaluation and run-agent seed a row
  by its episode and step: ``policy.HFPolicy``). The token is the Gumbel-max of the warped scores
  (temperature, top-k, top-p as ``generate`` applies them): a draw from the same distribution as
  ``generate``'s own sampling, from another stream. Batched kernels still differ from unbatched ones in
  the last float bits, which can flip a token at a near tie.

Only torch and ``drugenv.llm.stopping`` are imported at module level (transformers' logits processors
only for row seeds; no Ray): ``model`` is any module with Hugging Face's ``generate``.
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
    row_seeds: Sequence[int] | None = None,
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
        row_seeds: one seed per prompt (ints >= 0): each row samples from its own stream (module
            docstring). None: every row samples from torch's process stream. Ignored when greedy.
    """
    import torch

    stops = sorted({int(s) for s in stop_ids})
    ids, attn = left_pad(prompts, pad_id)  # (B, P)
    width = ids.shape[1]
    device = next(model.parameters()).device
    greedy = temperature == 0
    kwargs: dict[str, Any] = dict(
        max_new_tokens=int(max_new_tokens), do_sample=not greedy, pad_token_id=pad_id, eos_token_id=stops,
        return_dict_in_generate=True, output_logits=True,
    )
    # generate() fills every setting not passed from the model's generation config: pass the neutral value
    # of each that config sets otherwise, so a sampled token comes from temperature / top-k / top-p alone.
    config = getattr(model, "generation_config", None)
    kwargs.update({k: v for k, v in _NEUTRAL.items() if getattr(config, k, v) != v})
    if row_seeds is not None and len(row_seeds) != len(prompts):
        raise ValueError(f"row_seeds: {len(row_seeds)} seeds for {len(prompts)} prompts")
    if greedy or row_seeds is not None:  # None: no sampling warpers (the model's generation config would otherwise supply them)
        kwargs.update(temperature=None, top_p=None, top_k=None)
        if not greedy:  # greedy over the warped scores plus each row's own Gumbel noise: a seeded draw per row
            kwargs.update(do_sample=False, logits_processor=_row_seeded_sampling(row_seeds, device, temperature, top_p, top_k))
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


_NEUTRAL: dict[str, Any] = {
    # sampling warpers beyond temperature, top-k and top-p (the three the row-seeded path builds)
    "min_p": None, "typical_p": None, "epsilon_cutoff": None, "eta_cutoff": None, "top_h": None,
    # logits processors that reshape or forbid tokens
    "repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "no_repeat_ngram_size": None,
    "encoder_no_repeat_ngram_size": None, "bad_words_ids": None, "sequence_bias": None, "suppress_tokens": None,
    "begin_suppress_tokens": None, "min_length": 0, "min_new_tokens": None, "forced_bos_token_id": None,
    "forced_eos_token_id": None, "exponential_decay_length_penalty": None, "guidance_scale": None,
    "watermarking_config": None,
    # one sequence per prompt, ended by the stop ids alone
    "num_beams": 1, "num_return_sequences": 1, "stop_strings": None,
}
"""transformers' ``GenerationConfig`` settings that change which token is drawn or where a completion ends,
each at the value that turns it off (the module docstring says why)."""


def _row_seeded_sampling(row_seeds: Sequence[int], device: Any, temperature: float, top_p: float, top_k: int) -> Any:
    """``generate``'s logits processors that turn its greedy search into a seeded draw per row: the sampling
    warpers ``generate`` itself would apply, then Gumbel noise from each row's own generator (the argmax of
    log-probabilities plus Gumbel noise is a draw from their distribution)."""
    import torch
    from transformers import LogitsProcessor, LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    class RowGumbelNoise(LogitsProcessor):
        def __init__(self) -> None:
            self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in row_seeds]

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            # A row draws its noise whether or not it has stopped, so its stream never depends on other rows.
            # float64: float32 uniforms cut the Gumbel tail at ~17, which would never draw tokens below ~1e-7.
            u = torch.stack([torch.rand(scores.shape[-1], generator=g, device=scores.device, dtype=torch.float64)
                             for g in self.generators])
            gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(u.dtype).tiny)))
            return scores.double() + gumbel

    procs = [TemperatureLogitsWarper(float(temperature))]
    if top_k:
        procs.append(TopKLogitsWarper(int(top_k)))
    if top_p < 1.0:
        procs.append(TopPLogitsWarper(float(top_p)))
    return LogitsProcessorList([*procs, RowGumbelNoise()])


__all__ = ["Completions", "generate_completions", "left_pad"]
