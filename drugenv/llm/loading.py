"""Loading any Hugging Face causal LM (tiny, local directory or hub id), optionally with a peft LoRA adapter.

``load_model_and_tokenizer`` is what ``HFPolicy`` (and through it evaluation, run-agent, the Serve
agent and ``checkpoint:`` agents), SFT and the GRPO driver load models with. Model strings go
through ``architectures.resolve_model_spec`` first (``tiny``, ``tiny-qwen``, ``random:<hub id>``
build cached offline models); ``HF_HUB_OFFLINE=1`` restricts hub ids to the local HF cache.

``drugenv.llm.tiny`` builds the tiny models and tokenizers; this module only loads.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator, Optional

from drugenv.errors import ConfigError, DependencyNotInstalled

DTYPES = ("float32", "bfloat16", "float16")
"""The dtypes a model loads in (``dtype=``; None picks float32 on CPU, bfloat16 on CUDA)."""


def pick_device(device: Optional[str] = None) -> str:
    """``device`` if given, else ``"cuda"`` when available, else ``"cpu"``."""
    if device and device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def enable_activation_checkpointing(model: Any) -> None:
    """Recompute each layer's activations in the backward pass instead of keeping them (less memory, more
    compute), with torch's non-reentrant checkpoint: it passes gradients to a LoRA adapter's weights inside
    a layer whether or not the layer's inputs require grad (the reentrant one, transformers 4's default,
    left them None behind frozen embeddings). transformers 5 calls this ``activation_checkpointing_enable``
    and warns that ``gradient_checkpointing_enable`` goes in v6; the older name is used only where the
    newer is missing."""
    enable = getattr(model, "activation_checkpointing_enable", None)
    if enable is not None:
        enable({"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def disable_activation_checkpointing(model: Any) -> None:
    """Undo ``enable_activation_checkpointing``: layers keep their activations again, and the hook that
    transformers 5's enabling puts on the input embeddings (their outputs require grad) is removed."""
    disable = getattr(model, "activation_checkpointing_disable", None)
    if disable is None:
        model.gradient_checkpointing_disable()
        return
    disable()
    model.disable_input_require_grads()  # transformers 5 removes it only for a model peft was loaded into


def activation_checkpointing_on(model: Any) -> bool:
    """Whether ``model`` recomputes its layers' activations in the backward pass: transformers 5's
    ``is_activation_checkpointing``, or, in releases without it (5.3 and 5.6 among them), the older
    ``is_gradient_checkpointing``, which the newer releases warn goes in v6."""
    name = "is_activation_checkpointing" if hasattr(model, "is_activation_checkpointing") else "is_gradient_checkpointing"
    return bool(getattr(model, name))


def require_peft() -> Any:
    """``peft.PeftModel``, or ``DependencyNotInstalled`` with the pip command."""
    try:
        from peft import PeftModel
    except ImportError as e:
        raise DependencyNotInstalled("peft", "llm") from e
    return PeftModel


@contextlib.contextmanager
def _plain_weights_only(source: str | Path) -> Iterator[None]:
    """A ``.bin`` weights file that is more than tensors (a pickle whose loading would run code) is refused by torch's
    ``weights_only`` loader with a long traceback that suggests turning the protection off: a ``ConfigError``
    instead, which says so."""
    import pickle

    try:
        yield
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{source}: its weights are not plain tensors (torch loads .bin files with weights_only=True "
                          f"and refused this one: {first[:200]}); use safetensors weights (save_pretrained writes them)") from None


@contextlib.contextmanager
def peft_without_its_own_deprecation() -> Iterator[None]:
    """Around peft's ``get_peft_model`` / ``PeftModel.from_pretrained``: peft (0.21) reads the model's
    ``is_gradient_checkpointing``, which transformers 5 deprecates, so every adapter DrugEnv loads or makes printed a
    FutureWarning about a call DrugEnv does not make (it calls ``is_activation_checkpointing``). Only that warning
    is hidden."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`is_gradient_checkpointing` is deprecated", FutureWarning)
        yield


def load_tokenizer(path_or_id: str | Path):
    """Tokenizer with left padding and a pad token (generation-ready)."""
    from transformers import AutoTokenizer

    # trust_remote_code=False: a model folder's own Python (config.json's auto_map) is refused, not offered at a
    # [y/N] prompt that a terminal could answer and a server would wait on.
    tok = AutoTokenizer.from_pretrained(str(path_or_id), trust_remote_code=False)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model_and_tokenizer(
    path_or_id: str | Path,
    adapter: Optional[str | Path] = None,
    device: Optional[str] = None,
    dtype: Optional[str] = None,
    *,
    trainable_adapter: bool = False,
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` from a local directory or hub id, optionally with a peft LoRA adapter.

    Args:
        path_or_id: directory written by ``build_tiny_model`` / ``save_pretrained``, a hub id, or a model
            string of ``architectures.resolve_model_spec`` (``tiny``, ``random:Qwen/Qwen2.5-3B-Instruct``…)
            (honours ``HF_HUB_OFFLINE=1``: then only the local HF cache is used).
        adapter: peft adapter directory or hub id; ``None`` for the bare model.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``…; ``None``/``"auto"`` picks CUDA when available.
        dtype: ``"float32"``, ``"bfloat16"``, ``"float16"``; ``None`` = float32 on CPU, bfloat16 on CUDA.
        trainable_adapter: load the adapter with ``is_trainable=True`` (for continued training).

    Returns:
        The model in eval mode on ``device`` and a left-padding tokenizer.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from drugenv.llm.architectures import resolve_model_spec

    path_or_id = resolve_model_spec(path_or_id)  # tiny / tiny-qwen / random:<architecture> → cached directory
    dev = pick_device(device)
    torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if dev.startswith("cuda") else torch.float32)
    tok = load_tokenizer(path_or_id)
    with _plain_weights_only(path_or_id):
        model = AutoModelForCausalLM.from_pretrained(str(path_or_id), dtype=torch_dtype, trust_remote_code=False)
    if adapter is not None:
        PeftModel = require_peft()
        with _plain_weights_only(adapter), peft_without_its_own_deprecation():
            model = PeftModel.from_pretrained(model, str(adapter), is_trainable=trainable_adapter)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    model.to(dev)
    model.eval()
    return model, tok


__all__ = [
    "DTYPES",
    "load_model_and_tokenizer",
    "load_tokenizer",
    "pick_device",
    "require_peft",
]
