"""``HFPolicy``: a transformers causal LM (optionally with a peft LoRA adapter) behind ``Policy``.

Per step and slot: observation -> ``build_messages`` -> chat-template token ids -> backend
generation -> ``parse_action``. Generation sits behind ``GenerationBackend`` (token ids in,
token ids + log-probs out) so the GRPO trainer samples with the very same code:

| backend              | where          | status                                               |
|----------------------|----------------|------------------------------------------------------|
| ``HFGenerateBackend`` | CPU / one GPU  | batched ``model.generate``, left padding             |
| ``VLLMBackend``      | GPU            | placeholder: raises ``DependencyNotInstalled`` / ``NotImplementedError`` |

Log-probs are ``log_softmax(logits / temperature)`` of the sampled token (raw logits, before
top-k/top-p truncation; ``temperature=0`` means greedy and plain ``log_softmax``), the quantity
the trainer recomputes for its importance ratio.

``act`` returns one entry per observation: a ``DrugTargetAction``, or for unparseable output
the dict from ``parsing.unparseable_action`` (the environment blocks it as a hard
``invalid_action`` violation and the episode goes on). ``last_steps`` keeps the full record of the
latest ``act`` call (messages, token ids, log-probs, text, parse result) for logging and training.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Sequence

from drugenv.agents.base import Policy
from drugenv.errors import DependencyNotInstalled
from drugenv.llm.parsing import ParseFailure, ParseResult, parse_action, to_env_action
from drugenv.llm.prompts import DEFAULT_MAX_PROMPT_TOKENS, build_messages, prompt_token_ids
from drugenv.llm.stopping import cut_at_stop, stop_token_ids
from drugenv.models import DrugTargetAction, ValidationObservation


def require_peft() -> Any:
    """``peft.PeftModel``, or ``DependencyNotInstalled`` with the pip command."""
    try:
        from peft import PeftModel
    except ImportError as e:
        raise DependencyNotInstalled("peft", "llm") from e
    return PeftModel


def trained_budget(adapter: str | Path | None) -> int:
    """The prompt budget a checkpoint's adapter was trained with, else ``DEFAULT_MAX_PROMPT_TOKENS``."""
    import json

    if adapter is not None:
        meta = Path(adapter).parent / "drugenv_checkpoint.json"
        try:
            s = json.loads(meta.read_text()).get("settings", {})
            return int(s.get("training", {}).get("max_prompt_tokens") or s["run"]["eval_max_prompt_tokens"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    return DEFAULT_MAX_PROMPT_TOKENS


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
    """Seed torch's RNG once when the policy is built (None: leave it alone)."""

    def __post_init__(self) -> None:
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.top_k < 0 or self.max_new_tokens < 1:
            raise ValueError(
                f"SamplingConfig(temperature={self.temperature}, top_p={self.top_p}, top_k={self.top_k}, "
                f"max_new_tokens={self.max_new_tokens}): need temperature >= 0, 0 < top_p <= 1, top_k >= 0, "
                "max_new_tokens >= 1."
            )


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
    """Turns batches of prompt token ids into completions. Implementations: HF generate, vLLM."""

    tokenizer: Any

    @abstractmethod
    def generate(self, prompts: Sequence[list[int]], sampling: SamplingConfig) -> list[Generation]:
        """One ``Generation`` per prompt, in order."""


class HFGenerateBackend(GenerationBackend):
    """Batched ``model.generate`` with left padding, micro-batched by ``batch_size``."""

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 8) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size

    def generate(self, prompts: Sequence[list[int]], sampling: SamplingConfig) -> list[Generation]:
        out: list[Generation] = []
        for i in range(0, len(prompts), self.batch_size):
            out += self._generate_batch(prompts[i:i + self.batch_size], sampling)
        return out

    def _generate_batch(self, prompts: Sequence[list[int]], sampling: SamplingConfig) -> list[Generation]:
        import torch

        tok = self.tokenizer
        stops = stop_token_ids(tok, self.model)  # the training sampler's rule too (drugenv.llm.stopping)
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)  # (B, P) left-padded
        attn = torch.zeros((len(prompts), width), dtype=torch.long)  # (B, P)
        for r, p in enumerate(prompts):
            ids[r, width - len(p):] = torch.tensor(p, dtype=torch.long)
            attn[r, width - len(p):] = 1
        device = next(self.model.parameters()).device
        greedy = sampling.temperature == 0
        kwargs: dict[str, Any] = dict(
            max_new_tokens=sampling.max_new_tokens, do_sample=not greedy, pad_token_id=pad_id,
            eos_token_id=stops, return_dict_in_generate=True, output_logits=True,
        )
        if not greedy:
            kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            res = self.model.generate(input_ids=ids.to(device), attention_mask=attn.to(device), **kwargs)
        seqs = res.sequences[:, width:].cpu()  # (B, C)
        logits = torch.stack(res.logits, dim=1).float().cpu()  # (B, C, V)
        if not greedy:
            logits = logits / sampling.temperature
        token_lp = torch.log_softmax(logits, dim=-1).gather(-1, seqs[..., None]).squeeze(-1)  # (B, C)
        gens = []
        for r, p in enumerate(prompts):
            comp, stopped = cut_at_stop(seqs[r].tolist(), stops)
            gens.append(Generation(
                prompt_ids=list(p), completion_ids=comp, logprobs=token_lp[r, :len(comp)].tolist(),
                text=tok.decode(comp, skip_special_tokens=True), finish_reason="stop" if stopped else "length",
            ))
        return gens


class VLLMBackend(GenerationBackend):
    """Placeholder for vLLM generation on GPU (token ids in, ids + log-probs out, LoRA hot-swap).

    vLLM ships CUDA-only wheels that pin their own torch; it is never imported by tests or on CPU.
    """

    def __init__(self, model: str, tokenizer: Any, **engine_kwargs: Any) -> None:
        try:
            import vllm  # noqa: F401
        except ImportError as e:
            raise DependencyNotInstalled("vllm (CUDA GPU only; it pins its own torch)", "vllm") from e
        raise NotImplementedError("VLLMBackend is a placeholder: use HFGenerateBackend (backend='hf') for now")

    def generate(self, prompts: Sequence[list[int]], sampling: SamplingConfig) -> list[Generation]:  # pragma: no cover
        raise NotImplementedError


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
        backend: ``"hf"`` or ``"vllm"`` (placeholder).
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
        backend: Literal["hf", "vllm"] = "hf",
        model_obj: Any = None,
        tokenizer_obj: Any = None,
    ) -> None:
        from drugenv.llm.tiny import load_model_and_tokenizer

        if model_obj is None and model is None:
            raise ValueError("HFPolicy needs model=<path or hub id> or model_obj=<loaded model>")
        self.sampling = sampling
        self.max_prompt_tokens = int(max_prompt_tokens) if max_prompt_tokens is not None else trained_budget(adapter)
        if sampling.seed is not None:
            import torch

            torch.manual_seed(sampling.seed)
        if backend == "vllm":
            self.backend: GenerationBackend = VLLMBackend(str(model), tokenizer_obj)
        elif backend == "hf":
            if model_obj is None:
                model_obj, tokenizer_obj = load_model_and_tokenizer(model, adapter=adapter, device=device, dtype=dtype)
            self.backend = HFGenerateBackend(model_obj, tokenizer_obj, batch_size=batch_size)
        else:
            raise ValueError(f"backend={backend!r}; expected 'hf' or 'vllm'")
        self.model_id = str(model) if model is not None else type(model_obj).__name__
        self.adapter = str(adapter) if adapter is not None else None
        self.last_steps: list[PolicyStep] = []

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
        gens = dict(zip(live, self.backend.generate([prepared[i][1] for i in live], self.sampling) if live else []))
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
    "VLLMBackend",
    "require_peft",
    "trained_budget",
]
