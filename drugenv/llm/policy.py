"""``HFPolicy``: a transformers causal LM (optionally with a peft LoRA adapter) behind ``Policy``.

Per step and slot: observation -> ``build_messages`` -> chat-template token ids -> backend
generation -> ``parse_action``. Generation sits behind ``GenerationBackend`` (token ids in,
token ids + log-probs out). ``HFGenerateBackend`` micro-batches prompts into
``drugenv.llm.generation.generate_completions``, the one sampler GRPO rollouts use too
(``DrugLLMRLModule.generate``): same stop tokens (``drugenv.llm.stopping``), same left padding,
same log-probs. Log-probs are ``log_softmax(logits / temperature)`` of the sampled token (raw
logits, before top-k/top-p truncation; ``temperature=0`` means greedy and plain ``log_softmax``),
the quantity the trainer recomputes for its importance ratio.

``act`` returns one entry per observation: a ``DrugTargetAction``, or for unparseable output
the dict from ``parsing.unparseable_action`` (the environment blocks it as a hard
``invalid_action`` violation and the episode goes on). ``last_steps`` keeps the full record of the
latest ``act`` call (messages, token ids, log-probs, text, parse result) for logging and training.
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Sequence

from drugenv.agents.base import Policy
from drugenv.llm.checkpoint import trained_budget
from drugenv.llm.generation import generate_completions
from drugenv.llm.parsing import ParseFailure, ParseResult, parse_action, to_env_action
from drugenv.llm.prompts import build_messages, prompt_token_ids
from drugenv.llm.stopping import stop_token_ids
from drugenv.models import DrugTargetAction, ValidationObservation


@dataclass(frozen=True)
class SamplingConfig:
    """How completions are sampled."""

    temperature: float = 0.7
    """Softmax temperature; 0 = greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling mass (1.0 = off)."""
    top_k: int = 0
    """Keep the k most likely tokens (0 = off)."""
    max_new_tokens: int = 256
    """Completion length cap, tokens; a capped completion has finish_reason 'length'."""
    seed: Optional[int] = None
    """None: sample from torch's process stream. An int: ``HFPolicy.act`` samples each completion from a
    stream of its own, seeded by (seed, the episode, its step: ``row_seed``), so an episode's completions do not
    depend on the episodes batched beside it or on what was sampled before (``generation``, "Row
    seeds"); torch's RNG is also seeded with it once, when the policy is built."""

    def __post_init__(self) -> None:
        numbers = (self.temperature, self.top_p, self.top_k, self.max_new_tokens)
        # Real, finite numbers first: NaN passed "< 0" and failed only inside generate, after the model loaded,
        # and text ("abc" from an --extra) raised TypeError on the comparison.
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in numbers) or \
                not all(isinstance(x, int) for x in numbers[2:]) or \
                self.temperature < 0 or not 0 < self.top_p <= 1 or self.top_k < 0 or self.max_new_tokens < 1:
            raise ValueError(
                f"SamplingConfig(temperature={self.temperature!r}, top_p={self.top_p!r}, top_k={self.top_k!r}, "
                f"max_new_tokens={self.max_new_tokens!r}): need finite numbers, temperature >= 0, 0 < top_p <= 1, "
                "whole numbers top_k >= 0 and max_new_tokens >= 1."
            )
        if self.seed is not None:  # an episode seed's rule: 1.5 sampled as seed 1, 2**70 overflowed torch.manual_seed
            from drugenv.simulator.seeding import validated_seed

            validated_seed(self.seed, "SamplingConfig.seed")


@dataclass
class Generation:
    """One sampled completion, token-in/token-out."""

    prompt_ids: list[int]
    completion_ids: list[int]
    """Generated tokens up to and including the first eos (no padding)."""
    logprobs: list[float]
    """Per completion token: log_softmax(logits / temperature) of the sampled token."""
    text: str
    """Decoded completion without special tokens."""
    finish_reason: Literal["stop", "length"]


class GenerationBackend(ABC):
    """Turns batches of prompt token ids into completions (``HFGenerateBackend``; tests script their own)."""

    tokenizer: Any

    @abstractmethod
    def generate(self, prompts: Sequence[list[int]], sampling: SamplingConfig,
                 row_seeds: Optional[Sequence[int]] = None) -> list[Generation]:
        """One ``Generation`` per prompt, in order. ``row_seeds``: one int per prompt, to sample each from a
        stream of its own (``generation.generate_completions``); ``HFPolicy`` passes them only when its
        sampling has a seed and a temperature, so a backend that never samples may leave the keyword out."""


def row_seed(seed: int, episode: int | str, step: int) -> int:
    """The sampling seed of one completion: a hash of (the policy's seed, the episode, the step). ``episode`` is
    the seed the policy was reset with for that slot (``evaluation.episodes.policy_seed``: a counterfactual
    twin's differs from its original's, whose seed, id and first observation it shares), else the
    observation's episode id; so the same episode samples the same completions in any batch."""
    text = f"{int(seed)}|{episode}|{int(step)}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


class HFGenerateBackend(GenerationBackend):
    """``generation.generate_completions`` (batched ``model.generate``, left padding), micro-batched by ``batch_size``."""

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 8) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size

    def generate(self, prompts: Sequence[list[int]], sampling: SamplingConfig,
                 row_seeds: Optional[Sequence[int]] = None) -> list[Generation]:
        out: list[Generation] = []
        for i in range(0, len(prompts), self.batch_size):
            seeds = None if row_seeds is None else row_seeds[i:i + self.batch_size]
            out += self._generate_batch(prompts[i:i + self.batch_size], sampling, seeds)
        return out

    def _generate_batch(self, prompts: Sequence[list[int]], sampling: SamplingConfig,
                        row_seeds: Optional[Sequence[int]] = None) -> list[Generation]:
        tok = self.tokenizer
        stops = stop_token_ids(tok, self.model)  # the training sampler's rule too (drugenv.llm.stopping)
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        out = generate_completions(self.model, prompts, stop_ids=stops, pad_id=pad_id, max_new_tokens=sampling.max_new_tokens,
                                   temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k,
                                   row_seeds=row_seeds)
        return [
            Generation(prompt_ids=list(p), completion_ids=comp, logprobs=lp, text=tok.decode(comp, skip_special_tokens=True),
                       finish_reason="length" if trunc else "stop")
            for p, comp, lp, trunc in zip(prompts, out.completion_ids, out.logprobs, out.truncated)
        ]


@dataclass
class PolicyStep:
    """Everything about one slot's decision in the latest ``act`` call."""

    messages: list[dict[str, str]]
    generation: Generation
    result: ParseResult
    env_action: DrugTargetAction | dict[str, Any] = field(repr=False)


class HFPolicy(Policy):
    """A Hugging Face causal LM playing DrugEnv.

    Args:
        model: local directory or hub id (``Qwen/Qwen2.5-0.5B-Instruct``); with ``HF_HUB_OFFLINE=1``
            only local files are used.
        adapter: peft LoRA adapter directory or hub id (None: the bare model).
        sampling: ``SamplingConfig``.
        device: ``"cpu"``, ``"cuda"``…; None/"auto" picks CUDA when available.
        dtype: ``"float32"``/``"bfloat16"``/``"float16"``; None: float32 on CPU, bfloat16 on CUDA.
        max_prompt_tokens: token budget of each rendered prompt (see ``prompts.build_messages``); None:
            the budget the adapter was trained with (``training.max_prompt_tokens`` in the
            ``drugenv_checkpoint.json`` next to a checkpoint's ``adapter/``), else
            ``DEFAULT_MAX_PROMPT_TOKENS``. Every consumer (evaluation, run-agent, the Serve agent)
            then renders a trained agent's prompts exactly as its training did.
        batch_size: generation micro-batch.
        model_obj, tokenizer_obj: an already loaded model and tokenizer (skips loading; for trainers/tests).
    """

    name = "hf"

    def __init__(
        self,
        model: str | Path | None = None,
        adapter: str | Path | None = None,
        sampling: SamplingConfig = SamplingConfig(),
        *,
        device: Optional[str] = None,
        dtype: Optional[str] = None,
        max_prompt_tokens: Optional[int] = None,
        batch_size: int = 8,
        model_obj: Any = None,
        tokenizer_obj: Any = None,
    ) -> None:
        from drugenv.llm.loading import load_model_and_tokenizer

        if model_obj is None and model is None:
            raise ValueError("HFPolicy needs model=<path or hub id> or model_obj=<loaded model>")
        self.sampling = sampling
        self.max_prompt_tokens = int(max_prompt_tokens) if max_prompt_tokens is not None else trained_budget(adapter)
        if sampling.seed is not None:
            import torch

            torch.manual_seed(sampling.seed)
        if model_obj is None:
            model_obj, tokenizer_obj = load_model_and_tokenizer(model, adapter=adapter, device=device, dtype=dtype)
        context = getattr(getattr(model_obj, "config", None), "max_position_embeddings", None)
        if isinstance(context, int) and sampling.max_new_tokens > context:
            from drugenv.errors import ConfigError

            # A completion cannot outgrow the model's context: max_new_tokens=10**9 ran for as long as anyone let it,
            # holding an agent service's replica and growing its key-value cache (an audit).
            raise ConfigError(f"max_new_tokens {sampling.max_new_tokens} exceeds the model's context length ({context} "
                              "tokens): a reply is a few hundred tokens, pass at most that many")
        self.backend: GenerationBackend = HFGenerateBackend(model_obj, tokenizer_obj, batch_size=batch_size)
        self.model_id = str(model) if model is not None else type(model_obj).__name__
        self.adapter = str(adapter) if adapter is not None else None
        self.last_steps: list[PolicyStep] = []
        self._slot_seeds: Optional[list[int]] = None

    def reset(self, batch_size: int = 1, seeds: Optional[Sequence[int]] = None) -> None:
        """Keep each slot's episode seed (``row_seed``'s ``episode``); the policy has no other state."""
        self._slot_seeds = [int(s) for s in seeds] if seeds is not None else None

    def _episode_key(self, slot: int, obs: ValidationObservation) -> int | str:
        if self._slot_seeds is not None and slot < len(self._slot_seeds):
            return self._slot_seeds[slot]
        return f"id:{obs.metadata.get('episode_id', '')}"  # a caller that never said which episodes it plays

    @property
    def tokenizer(self) -> Any:
        return self.backend.tokenizer

    @property
    def model(self) -> Any:
        return getattr(self.backend, "model", None)

    def prompt_ids(self, obs: ValidationObservation) -> tuple[list[dict[str, str]], list[int]]:
        """Chat messages and prompt token ids for one observation (same as rollouts use)."""
        msgs = build_messages(obs, tokenizer=self.tokenizer, max_prompt_tokens=self.max_prompt_tokens)
        return msgs, prompt_token_ids(self.tokenizer, msgs)

    def act(self, observations: Sequence[ValidationObservation]) -> list[DrugTargetAction | dict[str, Any]]:
        """One action per observation; unparseable output becomes ``parsing.unparseable_action``."""
        live = [i for i, o in enumerate(observations) if not o.done]
        prepared = {i: self.prompt_ids(observations[i]) for i in live}
        prompts = [prepared[i][1] for i in live]
        if not live:
            gens = {}
        elif self.sampling.seed is None or self.sampling.temperature == 0:
            gens = dict(zip(live, self.backend.generate(prompts, self.sampling)))
        else:
            seeds = [row_seed(self.sampling.seed, self._episode_key(i, observations[i]), observations[i].step_count) for i in live]
            gens = dict(zip(live, self.backend.generate(prompts, self.sampling, row_seeds=seeds)))
        self.last_steps = []
        for i in range(len(observations)):
            if i not in gens:  # finished slot in a batch: no generation, its action is ignored
                failure = ParseFailure("empty", "episode already done; nothing generated", "")
                gen = Generation([], [], [], "", "stop")
                self.last_steps.append(PolicyStep([], gen, failure, to_env_action(failure)))
                continue
            result = parse_action(gens[i].text)
            self.last_steps.append(PolicyStep(prepared[i][0], gens[i], result, to_env_action(result)))
        return [s.env_action for s in self.last_steps]


__all__ = [
    "Generation",
    "GenerationBackend",
    "HFGenerateBackend",
    "HFPolicy",
    "PolicyStep",
    "SamplingConfig",
    "row_seed",
]
