"""Real Qwen2.5 architectures at random initialisation, and the one resolver of model strings.

No Qwen weights can be downloaded in this project, but speed and memory are properties of the
architecture, not of the weights. ``random:Qwen/Qwen2.5-3B-Instruct`` therefore builds the exact
public architecture (values in ``data/qwen2_architectures.json``, copied from each repository's
``config.json``), initialises it with a fixed seed, and pairs it with Qwen2.5's exact tokenizer
and chat template rebuilt offline (``drugenv.llm.tiny``). Nothing here pretends to be pretrained:
such a model emits random tokens.

Model strings (``resolve_model_spec``, used by ``drugenv train``, ``drugenv eval``, run-agent and
the Serve apps):

| string                                | resolves to                                                      |
|---------------------------------------|------------------------------------------------------------------|
| ``random:Qwen/Qwen2.5-0.5B-Instruct`` | cached directory: exact architecture, seeded random weights (bf16 on disk), Qwen2.5 tokenizer |
| ``tiny`` / ``tiny:L4H256``            | cached tiny model with the domain BPE tokenizer (``tiny.cached_tiny_model``) |
| ``tiny-qwen``                         | cached L2 H128 tiny model with the exact Qwen2.5 tokenizer        |
| anything else                         | unchanged: a local directory or a hub id                          |

How to run::

    python -m drugenv.llm.architectures            # the table of computed numbers per architecture

Results to expect: ``random:Qwen/Qwen2.5-0.5B-Instruct`` builds and saves in ~10-30 s on 2 CPU
cores (about 1 GB on disk in bf16) the first time, then resolves instantly from the cache.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Optional

RANDOM_PREFIX = "random:"
"""Model strings starting with this build a named architecture at random initialisation."""

ARCHITECTURES_RESOURCE = "data/qwen2_architectures.json"
"""Path of the architecture table inside the ``drugenv.llm`` package."""

BF16_BYTES = 2
"""Bytes per bf16 value."""

TINY_SPEC = re.compile(r"tiny(?::L(\d+)H(\d+))?")
"""``tiny`` / ``tiny:L4H256``: a cached tiny model with the domain BPE tokenizer (layers, hidden)."""


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    text = resources.files("drugenv.llm").joinpath(ARCHITECTURES_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


def architecture_names() -> list[str]:
    """The architectures ``random:`` accepts, e.g. ``Qwen/Qwen2.5-0.5B-Instruct``."""
    return sorted(k for k in _table() if not k.startswith("_"))


def architecture(name: str) -> dict[str, Any]:
    """The public ``config.json`` values of ``name`` (a copy); ``ConfigError`` listing the valid names otherwise."""
    from drugenv.errors import ConfigError

    if name not in architecture_names():
        raise ConfigError(f"model 'random:{name}': unknown architecture {name!r}. Valid: "
                          f"{', '.join(RANDOM_PREFIX + n for n in architecture_names())} "
                          f"(values in drugenv/llm/{ARCHITECTURES_RESOURCE})")
    return dict(_table()[name])


# ---------------------------------------------------------------------------------------------
# Computed (not measured) numbers: exact for the architecture, no torch needed
# ---------------------------------------------------------------------------------------------


def _arch(name: str | dict[str, Any]) -> dict[str, Any]:
    """``architecture(name)``, or ``name`` itself when it already is a dict of config values."""
    return dict(name) if isinstance(name, dict) else architecture(name)


def head_dim(name: str | dict[str, Any]) -> int:
    """Attention head width, ``hidden_size / num_attention_heads``."""
    a = _arch(name)
    return a["hidden_size"] // a["num_attention_heads"]


def param_count(name: str | dict[str, Any]) -> dict[str, int]:
    """Parameter counts of a Qwen2 architecture (bias on q/k/v only, RMSNorm weights, optional untied head).

    Returns ``{"total", "embedding", "lm_head", "per_layer", "non_embedding"}``; ``lm_head`` is 0 when
    tied. ``non_embedding`` excludes the embedding and an untied head (the model cards' convention).
    """
    a = _arch(name)
    h, i, v = a["hidden_size"], a["intermediate_size"], a["vocab_size"]
    kv = a["num_key_value_heads"] * head_dim(a)
    per_layer = (h * h + h) + 2 * (h * kv + kv) + h * h + 3 * h * i + 2 * h
    emb = v * h
    head = 0 if a["tie_word_embeddings"] else v * h
    body = a["num_hidden_layers"] * per_layer + h
    return {"total": emb + head + body, "embedding": emb, "lm_head": head, "per_layer": per_layer,
            "non_embedding": body}


def lora_param_count(name: str | dict[str, Any], r: int, target_modules: list[str]) -> int:
    """Trainable parameters of a LoRA adapter of rank ``r`` on ``target_modules`` of every layer."""
    a = _arch(name)
    h, i = a["hidden_size"], a["intermediate_size"]
    kv = a["num_key_value_heads"] * head_dim(a)
    shapes = {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
              "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}
    unknown = set(target_modules) - set(shapes)
    if unknown:
        raise ValueError(f"target_modules {sorted(unknown)} are not Qwen2 linear layers; valid: {sorted(shapes)}")
    return a["num_hidden_layers"] * sum(r * (fan_in + fan_out) for fan_in, fan_out in (shapes[m] for m in target_modules))


def kv_cache_bytes_per_token(name: str | dict[str, Any], bytes_per_value: int = BF16_BYTES) -> int:
    """KV-cache bytes one token occupies across all layers (keys and values)."""
    a = _arch(name)
    return 2 * a["num_hidden_layers"] * a["num_key_value_heads"] * head_dim(a) * bytes_per_value


def weight_bytes(name: str | dict[str, Any], bytes_per_value: int = BF16_BYTES) -> int:
    """Bytes of all weights (tied embeddings counted once)."""
    return param_count(name)["total"] * bytes_per_value


def forward_flops(name: str | dict[str, Any], prompt_tokens: int, completion_tokens: int, *, logits_positions: Optional[int] = None) -> int:
    """Matmul FLOPs of one forward pass over one sequence of ``prompt_tokens + completion_tokens``.

    ``2 * (non-embedding linear weights) * n`` for the decoder layers, ``4 * L * H * sum_k k`` for the
    causal attention scores and weighted sum (query ``k`` attends to ``k`` positions), and
    ``2 * V * H * logits_positions`` for the LM head (default: every position; the project's
    ``completion_logprobs`` keeps only ``completion_tokens + 1``). Norms, RoPE, softmax, SiLU are
    ignored (< 1%).
    """
    a = _arch(name)
    n = prompt_tokens + completion_tokens
    h, layers = a["hidden_size"], a["num_hidden_layers"]
    linear = param_count(a)["per_layer"] - 2 * h  # weights and biases of q,k,v,o and the MLP
    attn = 4 * layers * h * (n * (n + 1) // 2)
    head_pos = n if logits_positions is None else logits_positions
    return 2 * linear * layers * n + attn + 2 * a["vocab_size"] * h * head_pos


def lora_update_flops(name: str | dict[str, Any], prompt_tokens: int, completion_tokens: int, *, logits_positions: Optional[int] = None) -> int:
    """Model FLOPs of one LoRA training step on one sequence: forward + backward to the activations
    (``2 x`` forward; the frozen base weights get no gradient), LoRA matmuls and recomputation
    from activation checkpointing not counted (the usual MFU convention)."""
    return 2 * forward_flops(name, prompt_tokens, completion_tokens, logits_positions=logits_positions)


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------


def rope_kwargs(theta: float) -> dict[str, Any]:
    """``Qwen2Config``'s keyword for RoPE's base ``theta`` in the installed transformers: 5.x takes
    ``rope_parameters`` (and would ignore ``rope_theta``), 4.x takes ``rope_theta`` (and ignores the other)."""
    from transformers import Qwen2Config

    if "rope_parameters" in inspect.signature(Qwen2Config.__init__).parameters:  # transformers 5.x
        return {"rope_parameters": {"rope_type": "default", "rope_theta": theta}}
    return {"rope_theta": theta}  # transformers 4.x


def qwen2_config(name: str, **overrides: Any):
    """``transformers.Qwen2Config`` with the public values of ``name`` (``overrides`` win, e.g. ``num_hidden_layers=2``)."""
    from transformers import Qwen2Config

    a = {k: v for k, v in architecture(name).items() if k not in ("model_type", "torch_dtype")}
    a.update(overrides)
    a.update(rope_kwargs(a.pop("rope_theta")))
    a["pad_token_id"] = 151643  # <|endoftext|>, as the tokenizer's pad token
    return Qwen2Config(**a)


def build_random_model(name: str, *, seed: int = 0, dtype: str = "bfloat16", device: str = "cpu", **overrides: Any):
    """The architecture ``name`` at random initialisation (``torch.manual_seed(seed)``), on ``device`` in ``dtype``.

    Initialised directly on ``device`` (a GPU builds a 3B model in seconds); the same seed gives the
    same weights on the same device type. ``overrides`` change config values (tests use fewer layers).
    """
    import torch
    from transformers import Qwen2ForCausalLM

    cfg = qwen2_config(name, **overrides)
    torch_dtype = getattr(torch, dtype)
    torch.manual_seed(seed)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch_dtype)
    try:
        with torch.device(device):
            model = Qwen2ForCausalLM(cfg)
    finally:
        torch.set_default_dtype(old)
    model.generation_config.eos_token_id = cfg.eos_token_id
    model.generation_config.pad_token_id = cfg.pad_token_id
    model.generation_config.bos_token_id = cfg.bos_token_id
    return model


def meta_param_count(name: str, **overrides: Any) -> int:
    """Parameters of the transformers model built on the meta device (no memory): checks ``param_count``."""
    import torch
    from transformers import Qwen2ForCausalLM

    with torch.device("meta"):
        model = Qwen2ForCausalLM(qwen2_config(name, **overrides))
    return sum(p.numel() for p in model.parameters())  # parameters() yields a tied weight once


def build_random_model_dir(name: str, save_dir: Path | str, *, seed: int = 0, dtype: str = "bfloat16") -> Path:
    """``save_pretrained`` of ``build_random_model(name)`` plus the exact Qwen2.5 tokenizer, into ``save_dir``.

    Loadable with ``AutoModelForCausalLM.from_pretrained`` in any dtype (weights are stored in ``dtype``).
    """
    from drugenv.llm.tiny import _save_tokenizer, cached_tokenizer

    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    _save_tokenizer(cached_tokenizer("qwen"), save_dir, tokenizer_class="Qwen2Tokenizer")
    model = build_random_model(name, seed=seed, dtype=dtype)
    model.save_pretrained(save_dir)
    (save_dir / "drugenv_random.json").write_text(json.dumps(
        {"architecture": name, "seed": seed, "dtype": dtype, "random_init": True,
         "params": sum(p.numel() for p in model.parameters()),
         "source": f"drugenv/llm/{ARCHITECTURES_RESOURCE}"}, indent=2), encoding="utf-8")
    return save_dir


def _fingerprint() -> str:
    """Hash of what determines a built model's bytes: the data file and the three build functions."""
    h = hashlib.sha256(resources.files("drugenv.llm").joinpath(ARCHITECTURES_RESOURCE).read_bytes())
    for fn in (qwen2_config, build_random_model, build_random_model_dir):
        h.update(inspect.getsource(fn).encode())
    return h.hexdigest()[:16]


def cached_random_model(name: str, *, seed: int = 0, dtype: str = "bfloat16", cache_dir: Optional[Path | str] = None) -> Path:
    """Build ``random:<name>`` once into the cache (keyed by name, seed, dtype and code) and reuse it.

    Safe under concurrent callers: each builds into a private temporary directory; the first rename wins.
    """
    from drugenv.llm.tiny import default_cache_dir

    architecture(name)  # unknown names fail before anything is built
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = hashlib.sha256(f"{name}-{seed}-{dtype}-{_fingerprint()}".encode()).hexdigest()[:16]
    final = cache / "random" / f"{name.replace('/', '--')}-s{seed}-{dtype}-{key}"
    from drugenv.llm.tiny import build_once

    return build_once(final, lambda tmp: build_random_model_dir(name, tmp, seed=seed, dtype=dtype))


def is_built_spec(spec: str) -> bool:
    """Whether ``spec`` names a model built offline (``random:…``, ``tiny``, ``tiny:LxHy``, ``tiny-qwen``)."""
    return spec.startswith(RANDOM_PREFIX) or spec == "tiny-qwen" or TINY_SPEC.fullmatch(spec) is not None


def is_uncached_hub_id(spec: str) -> bool:
    """Whether ``spec`` is a hub id that cannot load here: Hugging Face's offline mode is on
    (``HF_HUB_OFFLINE=1`` or ``TRANSFORMERS_OFFLINE=1``) and the local cache holds no ``config.json`` for
    it (or it is no valid repository id). ``drugenv train`` says so before Ray starts, where the loader's
    traceback came a minute into the run. False for the strings built here, for anything on disk (as the
    loader sees it: ``~`` is not expanded), online (the id may download), and without ``huggingface_hub``."""
    if is_built_spec(spec) or Path(spec).exists():
        return False
    try:
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:
        return False
    if not constants.HF_HUB_OFFLINE:  # read at call time: every huggingface_hub release has it
        return False
    try:
        return not isinstance(try_to_load_from_cache(spec, "config.json"), str)
    except ValueError:  # not a valid repository id either (huggingface_hub's HFValidationError)
        return True


def resolve_model_spec(spec: str | Path) -> str:
    """The one resolver of model strings: a directory or hub id ``from_pretrained`` can load.

    See the module docstring's table. ``ConfigError`` for an unknown ``random:`` architecture.
    """
    spec = str(spec)
    if spec.startswith(RANDOM_PREFIX):
        return str(cached_random_model(spec[len(RANDOM_PREFIX):]))
    if spec == "tiny-qwen":
        from drugenv.llm.tiny import cached_tiny_model

        return str(cached_tiny_model(tokenizer="qwen"))
    m = TINY_SPEC.fullmatch(spec)
    if m:
        from drugenv.llm.tiny import cached_tiny_model

        layers, hidden = (int(m.group(1)), int(m.group(2))) if m.group(1) else (2, 128)
        return str(cached_tiny_model(layers=layers, hidden=hidden))
    return spec


def summary_table() -> list[dict[str, Any]]:
    """Computed numbers per architecture (parameters, bf16 weight and KV-cache bytes, FLOPs per token)."""
    rows = []
    for name in architecture_names():
        pc = param_count(name)
        rows.append({
            "architecture": name, "params": pc["total"], "non_embedding_params": pc["non_embedding"],
            "weights_bf16_GiB": round(weight_bytes(name) / 2**30, 3),
            "kv_cache_bf16_bytes_per_token": kv_cache_bytes_per_token(name),
            "forward_GFLOP_per_token_at_2k_context": round(forward_flops(name, 2048, 0) / 2048 / 1e9, 3),
        })
    return rows


__all__ = [
    "ARCHITECTURES_RESOURCE",
    "RANDOM_PREFIX",
    "TINY_SPEC",
    "architecture",
    "architecture_names",
    "build_random_model",
    "build_random_model_dir",
    "cached_random_model",
    "forward_flops",
    "head_dim",
    "is_built_spec",
    "is_uncached_hub_id",
    "kv_cache_bytes_per_token",
    "lora_param_count",
    "lora_update_flops",
    "meta_param_count",
    "param_count",
    "qwen2_config",
    "resolve_model_spec",
    "rope_kwargs",
    "summary_table",
    "weight_bytes",
]

if __name__ == "__main__":
    for row in summary_table():
        print(json.dumps(row))
