"""Tiny offline Qwen2-architecture models and tokenizers: no hub, no downloads of weights.

Tests, the CPU demo and the GRPO smoke runs use these; real configs name
``Qwen/Qwen2.5-0.5B-Instruct`` / ``Qwen/Qwen2.5-3B-Instruct``. Two tokenizers, both hub-free:

| tokenizer | how it is made | vocab | use |
|-----------|----------------|-------|-----|
| ``"bpe"``  | byte-level BPE trained in < 1 s on a DrugEnv corpus (system prompt, actions, observations) | ~1-2k | fast unit tests, demo |
| ``"qwen"`` | Qwen2.5's exact tokenizer rebuilt from ``qwen.tiktoken`` in the ``dashscope`` wheel (sha256 pinned) | 151,665 | chat-format / masking tests, realistic smoke runs |

Both carry Qwen2.5-Instruct's exact chat template (``assets/qwen25_chat_template.jinja``, sha256 pinned),
so prompts render byte-identically to the real model's. Nothing here pretends to be pretrained.

How to run::

    python -c "from drugenv.llm.tiny import cached_tiny_model; print(cached_tiny_model())"

Results to expect: a 0.7M-parameter L2 H128 model with the BPE tokenizer builds and saves in ~1 s
(directory ~2.5 MB); the Qwen-vocab version builds in ~3-5 s (~90 MB) after a one-off ``pip download``.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Optional

from drugenv.llm.loading import load_tokenizer

TokenizerKind = Literal["bpe", "qwen"]

QWEN_CHAT_TEMPLATE_SHA256 = "cd8e9439f0570856fd70470bf8889ebd8b5d1107207f67a5efb46e342330527f"
"""sha256 of Qwen2.5-Instruct's chat template (tokenizer_config.json of Qwen2.5-0.5B-Instruct)."""

QWEN_TIKTOKEN_SHA256 = "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186"
"""sha256 of ``qwen.tiktoken`` (151,643 byte-level BPE ranks; identical in dashscope 2.0.2 and qwen-agent)."""

QWEN_TIKTOKEN_WHEEL = "dashscope==2.0.2"
"""The Apache-2.0 wheel that ships ``dashscope/resources/qwen.tiktoken``."""

QWEN_VOCAB_ROWS = 151_936
"""Qwen2.5's embedding rows (151,665 tokens padded)."""

QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
"""Qwen2 pre-tokenizer split regex (single digits, contractions, byte-level)."""

QWEN25_ADDED_TOKENS: tuple[tuple[int, str, bool], ...] = (
    (151643, "<|endoftext|>", True),
    (151644, "<|im_start|>", True),
    (151645, "<|im_end|>", True),
    (151646, "<|object_ref_start|>", True),
    (151647, "<|object_ref_end|>", True),
    (151648, "<|box_start|>", True),
    (151649, "<|box_end|>", True),
    (151650, "<|quad_start|>", True),
    (151651, "<|quad_end|>", True),
    (151652, "<|vision_start|>", True),
    (151653, "<|vision_end|>", True),
    (151654, "<|vision_pad|>", True),
    (151655, "<|image_pad|>", True),
    (151656, "<|video_pad|>", True),
    (151657, "<tool_call>", False),
    (151658, "</tool_call>", False),
    (151659, "<|fim_prefix|>", False),
    (151660, "<|fim_middle|>", False),
    (151661, "<|fim_suffix|>", False),
    (151662, "<|fim_pad|>", False),
    (151663, "<|repo_name|>", False),
    (151664, "<|file_sep|>", False),
)
"""(id, content, special) of Qwen2.5's 22 added tokens; ``<tool_call>`` and FIM tokens are not special."""

BPE_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
"""Ids 0, 1, 2 of the domain BPE tokenizer."""


class TokenizerUnavailable(RuntimeError):
    """Raised when ``qwen.tiktoken`` cannot be found, fetched, or fails its sha256 check."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"Qwen2.5 tokenizer data unavailable: {reason}. Fix: `pip download --no-deps {QWEN_TIKTOKEN_WHEEL}` "
            "and set DRUGENV_QWEN_TIKTOKEN to the extracted dashscope/resources/qwen.tiktoken, "
            "or use tokenizer='bpe'."
        )


# ---------------------------------------------------------------------------------------------
# Cache directory
# ---------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``$DRUGENV_CACHE_DIR``, else ``<repo>/.cache/drugenv`` in a source checkout, else ``~/.cache/drugenv``."""
    env = os.environ.get("DRUGENV_CACHE_DIR")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").exists():
        return repo / ".cache" / "drugenv"
    return Path.home() / ".cache" / "drugenv"


def chat_template() -> str:
    """Qwen2.5-Instruct's exact chat template (sha256-checked)."""
    text = resources.files("drugenv.llm").joinpath("assets/qwen25_chat_template.jinja").read_text(encoding="utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest != QWEN_CHAT_TEMPLATE_SHA256:
        raise RuntimeError(f"chat template sha256 {digest} != pinned {QWEN_CHAT_TEMPLATE_SHA256}; the asset was edited")
    return text


# ---------------------------------------------------------------------------------------------
# Qwen2.5's exact tokenizer from qwen.tiktoken
# ---------------------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_qwen_tiktoken(cache_dir: Optional[Path] = None, *, allow_pip: bool = True) -> Path:
    """Path to a sha256-verified ``qwen.tiktoken``.

    Looks in order at ``$DRUGENV_QWEN_TIKTOKEN``, the cache, an installed ``dashscope`` /
    ``qwen_agent`` package, then (``allow_pip``) runs ``pip download --no-deps dashscope==2.0.2``
    and extracts the file from the wheel. Raises ``TokenizerUnavailable`` when all fail.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / "qwen.tiktoken"
    candidates: list[Path] = []
    if os.environ.get("DRUGENV_QWEN_TIKTOKEN"):
        candidates.append(Path(os.environ["DRUGENV_QWEN_TIKTOKEN"]))
    candidates.append(target)
    for pkg, rel in (("dashscope", "resources/qwen.tiktoken"), ("qwen_agent", "utils/qwen.tiktoken")):
        try:
            candidates.append(Path(str(resources.files(pkg).joinpath(rel))))
        except (ModuleNotFoundError, TypeError):
            pass
    for c in candidates:
        if c.is_file() and _sha256_file(c) == QWEN_TIKTOKEN_SHA256:
            return c
    if not allow_pip:
        raise TokenizerUnavailable("not in $DRUGENV_QWEN_TIKTOKEN, the cache or an installed package")
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", QWEN_TIKTOKEN_WHEEL, "-d", tmp],
            capture_output=True, text=True, timeout=300,
        )
        wheels = list(Path(tmp).glob("dashscope-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise TokenizerUnavailable(f"pip download failed: {proc.stderr.strip()[-300:]}")
        data = zipfile.ZipFile(wheels[0]).read("dashscope/resources/qwen.tiktoken")
    digest = hashlib.sha256(data).hexdigest()
    if digest != QWEN_TIKTOKEN_SHA256:
        raise TokenizerUnavailable(f"sha256 mismatch: got {digest}, expected {QWEN_TIKTOKEN_SHA256}")
    cache.mkdir(parents=True, exist_ok=True)
    tmp_target = target.with_suffix(f".tmp{os.getpid()}")
    tmp_target.write_bytes(data)
    os.replace(tmp_target, target)
    return target


@lru_cache(maxsize=1)
def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable-unicode map (the byte-level BPE alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def _bpe_split(ranks: dict[bytes, int], token: bytes, max_rank: int) -> list[bytes]:
    """Rank-ordered BPE of ``token`` using only merges below ``max_rank``: the last two parts are its merge."""
    parts = [bytes([b]) for b in token]
    while True:
        best_i, best_r = -1, None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < max_rank and (best_r is None or r < best_r):
                best_i, best_r = i, r
        if best_r is None:
            return parts
        parts = parts[:best_i] + [parts[best_i] + parts[best_i + 1]] + parts[best_i + 2:]


def _qwen_byte_level(tk: Any) -> None:
    """Qwen2's normaliser, pre-tokeniser (its split regex + byte level), decoder and post-processor."""
    from tokenizers import Regex, decoders, normalizers, pre_tokenizers, processors

    tk.normalizer = normalizers.NFC()
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.ByteLevel(trim_offsets=False)


def build_qwen_tokenizer(save_dir: Optional[Path] = None, tiktoken_path: Optional[Path] = None):
    """Qwen2.5's exact tokenizer (vocab, merges, regex, 22 added tokens, chat template), offline.

    The result encodes identically to the hub's ``Qwen/Qwen2.5-*-Instruct`` tokenizer
    (eos ``<|im_end|>`` 151645, pad ``<|endoftext|>`` 151643, len 151,665).
    """
    from tokenizers import AddedToken, Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    path = Path(tiktoken_path) if tiktoken_path is not None else fetch_qwen_tiktoken()
    ranks: dict[bytes, int] = {}
    for line in path.read_bytes().splitlines():
        if line:
            tok, rank = line.split()
            ranks[base64.b64decode(tok)] = int(rank)
    enc = _bytes_to_unicode()

    def s(b: bytes) -> str:
        return "".join(enc[x] for x in b)

    vocab = {s(t): r for t, r in ranks.items()}
    merges: list[tuple[str, str]] = []
    for tok, r in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(tok) > 1:
            parts = _bpe_split(ranks, tok, max_rank=r)
            if len(parts) != 2:
                raise TokenizerUnavailable(f"token rank {r} does not reduce to one merge ({len(parts)} parts)")
            merges.append((s(parts[0]), s(parts[1])))
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False,
                              continuing_subword_prefix="", end_of_word_suffix=""))
    _qwen_byte_level(tk)
    for tid, content, special in QWEN25_ADDED_TOKENS:
        added = AddedToken(content, special=special, normalized=False)
        (tk.add_special_tokens if special else tk.add_tokens)([added])
        assert tk.token_to_id(content) == tid, (content, tk.token_to_id(content), tid)
    hf = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                 bos_token=None, unk_token=None, errors="replace", model_max_length=131072,
                                 clean_up_tokenization_spaces=False, split_special_tokens=False)
    hf.chat_template = chat_template()
    if save_dir is not None:
        _save_tokenizer(hf, Path(save_dir), tokenizer_class="Qwen2Tokenizer")
    return hf


# ---------------------------------------------------------------------------------------------
# Domain BPE tokenizer (trained in < 1 s)
# ---------------------------------------------------------------------------------------------

_GENES = ("EGFR", "KRAS", "CD33", "TP53", "PTPN11", "BRAF", "ALK", "HER2", "ERBB2", "MET", "PIK3CA", "BCL2",
          "FLT3", "IDH1", "MYC", "CDK4", "KIT", "RET", "ROS1", "NTRK1", "FGFR2", "JAK2")
_INDICATIONS = ("non-small cell lung cancer", "pancreatic ductal adenocarcinoma", "acute myeloid leukaemia",
                "solid tumours", "juvenile myelomonocytic leukaemia", "melanoma", "colorectal cancer",
                "breast cancer", "glioblastoma", "ovarian cancer")


def _random_params(spec, rng: random.Random) -> dict[str, Any]:
    """Random valid parameters for one action's parameter model (corpus and tests); some keys left to defaults."""
    out: dict[str, Any] = {}
    for name, field in spec.params.model_fields.items():
        ann = field.annotation
        args = getattr(ann, "__args__", None)
        optional = bool(args) and type(None) in args
        if optional:
            ann = next(a for a in args if a is not type(None))
            args = getattr(ann, "__args__", None)
            if rng.random() < 0.3:
                out[name] = None
                continue
        lo = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
        hi = next((m.le for m in field.metadata if hasattr(m, "le")), None)
        if args and all(isinstance(a, str) for a in args):
            out[name] = rng.choice(args)
        elif ann is bool:
            out[name] = rng.random() < 0.5
        elif ann is float:
            out[name] = round(rng.uniform(lo if lo is not None else 0.0, hi if hi is not None else 1.0), 2)
        elif ann is int:
            out[name] = rng.randint(lo if lo is not None else 0, hi if hi is not None else 10)
        else:
            out[name] = rng.choice(_GENES) + " " + rng.choice(["amplification", "mutation", "expression", "hERG signal"])
    return {k: v for k, v in out.items() if field_is_required(spec, k) or rng.random() < 0.7}


def field_is_required(spec, name: str) -> bool:
    """Whether parameter ``name`` of ``spec`` has no default."""
    return spec.params.model_fields[name].is_required()


def _table_corpus(rng: random.Random, n: int = 400) -> Iterator[str]:
    """Compact user turns (``prompts.render_compact``) of synthetic dossiers with random readouts, and
    report / investigation replies like the SFT teacher's: the evidence table's vocabulary."""
    from drugenv.actions import ACTION_TABLE, ActionType as A
    from drugenv.models import EvidenceDossier, Finding, HistoryEntry, ValidationObservation

    try:
        from drugenv.llm.prompts import action_to_json, compact_system_prompt, render_compact
    except ImportError:
        return
    for _ in range(20):
        yield compact_system_prompt()
    u = rng.uniform
    readouts = {
        A.QUERY_EXPRESSION: lambda: {"log2fc_tumor_vs_normal": round(u(-2, 6), 2), "alteration_frequency": round(u(0, 0.9), 2)},
        A.DIFFERENTIAL_EXPRESSION: lambda: {"log2fc": round(u(-2, 6), 2), "alteration_frequency": round(u(0, 0.9), 2)},
        A.DRUGGABILITY_SCREEN: lambda: {"druggability_score": round(u(0, 1), 2)},
        A.BINDING_SITE_ANALYSIS: lambda: {"best_pocket_score": round(u(0, 1), 2)},
        A.LITERATURE_SEARCH: lambda: {"recent_inhibitors_reported": rng.random() < 0.5},
        A.TOXICITY_PANEL: lambda: {"toxicity_risk": round(u(0, 1), 2), "adverse_knockout_phenotype": rng.random() < 0.3},
        A.OFF_TARGET_SCREEN: lambda: {"selectivity_ratio": round(u(1, 80), 1)},
        A.CRISPR_KNOCKOUT: lambda: {"chronos_score": round(u(-2, 0.5), 2)},
        A.IN_VITRO_ASSAY: lambda: {"ic50_nm": round(u(1, 3000), 1)},
        A.IN_VIVO_MODEL: lambda: {"tgi_pct": round(u(0, 90), 1)},
        A.CLINICAL_TRIAL_LOOKUP: lambda: {"clinical_precedent": rng.choice(["approved", "late_clinical", "early_clinical", "failed", "none"])},
        A.REQUEST_EXPERT_REVIEW: lambda: {"viability_estimate": round(u(0, 1), 2)},
    }
    kinds = list(readouts)
    for i in range(n):
        dossier, history = EvidenceDossier(), []
        for step, at in enumerate(rng.sample(kinds, rng.randint(0, len(kinds))), start=1):
            spec = ACTION_TABLE[at]
            params = _random_params(spec, rng)
            getattr(dossier, spec.section).append(Finding(step=step, action_type=at, parameters=params, summary="", data=readouts[at]()))
            history.append(HistoryEntry(step=step, action_type=at.value, parameters=params, summary="", cost=spec.cost))
        total = rng.choice([30, 35, 40, 45])
        obs = ValidationObservation(
            target_gene=rng.choice(_GENES), disease_context="oncology", indication=rng.choice(_INDICATIONS),
            credits_remaining=rng.randint(0, total), credits_total=total, step_count=len(history),
            max_steps=rng.choice([12, 14, 30]), dossier=dossier, pipeline_history=history, legal_actions=list(ACTION_TABLE))
        yield render_compact(obs)
        gate = rng.choice(["tractability", "linkage", "safety", "selectivity", "translation"])
        if i % 3 == 0:
            yield action_to_json({"action_type": A.SUBMIT_VALIDATION_REPORT.value, "final_decision": rng.choice(["go", "no_go"]),
                                  "confidence": round(u(0.5, 0.99), 2), "parameters": {},
                                  "reasoning": rng.choice([f"{gate} fails", f"no gate fails; weakest {gate}"])})
        else:
            at = rng.choice(kinds)
            yield action_to_json({"action_type": at.value, "parameters": _random_params(ACTION_TABLE[at], rng),
                                  "reasoning": rng.choice(["next protocol step", f"second readout: {gate} fails"])})


def domain_corpus(n: int = 4000, seed: int = 0) -> Iterator[str]:
    """Deterministic DrugEnv text: the system prompt, JSON actions of every type, observation-like lines."""
    from drugenv.actions import ACTION_TABLE, ActionType

    rng = random.Random(seed)
    try:
        from drugenv.llm.prompts import system_prompt

        sp = system_prompt()
    except ImportError:
        sp = ""
    for _ in range(20):
        yield sp
    yield from _table_corpus(rng)
    types = list(ACTION_TABLE)
    for i in range(n):
        at = types[i % len(types)]
        spec = ACTION_TABLE[at]
        action: dict[str, Any] = {"action_type": at.value, "parameters": _random_params(spec, rng),
                                  "reasoning": f"Check {spec.dimension.value if spec.dimension else 'the dossier'} "
                                               f"for {rng.choice(_GENES)} in {rng.choice(_INDICATIONS)}."}
        if at is ActionType.SUBMIT_VALIDATION_REPORT:
            action["final_decision"] = rng.choice(["go", "no_go"])
            action["confidence"] = round(rng.random(), 2)
        yield json.dumps(action)
        gene, ind = rng.choice(_GENES), rng.choice(_INDICATIONS)
        yield (f"Target: {gene} | Indication: {ind} | Credits: {rng.randint(0, 45)}/{rng.choice([30, 35, 40, 45])} "
               f"| Step {rng.randint(0, 30)}/30\n- [{rng.randint(1, 30)}] {at.value}: {spec.description} "
               f"score={rng.random():.2f} tpm={rng.uniform(0, 500):.1f} log2fc={rng.uniform(-3, 6):.2f} "
               f"ic50_nM={rng.uniform(1, 5000):.0f}")


def build_bpe_tokenizer(save_dir: Optional[Path] = None, *, vocab_size: int = 2048, seed: int = 0):
    """Byte-level BPE on the DrugEnv corpus with Qwen's regex, specials and chat template (< 1 s)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE(fuse_unk=False, byte_fallback=False))
    _qwen_byte_level(tk)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=list(BPE_SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tk.train_from_iterator(domain_corpus(seed=seed), trainer=trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                 bos_token=None, unk_token=None, clean_up_tokenization_spaces=False)
    hf.chat_template = chat_template()
    if save_dir is not None:
        _save_tokenizer(hf, Path(save_dir), tokenizer_class="PreTrainedTokenizerFast")
    return hf


def _save_tokenizer(tok, save_dir: Path, *, tokenizer_class: str) -> None:
    """save_pretrained, then name a class that transformers 4.x and 5.x both know."""
    save_dir.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(save_dir)
    cfg_path = save_dir / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["tokenizer_class"] = tokenizer_class
    cfg.setdefault("chat_template", tok.chat_template)
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False), encoding="utf-8")


def build_tokenizer(kind: TokenizerKind = "bpe", save_dir: Optional[Path] = None, *, seed: int = 0):
    """``"bpe"`` (domain BPE) or ``"qwen"`` (Qwen2.5 exact); ValueError otherwise."""
    if kind == "bpe":
        return build_bpe_tokenizer(save_dir, seed=seed)
    if kind == "qwen":
        return build_qwen_tokenizer(save_dir)
    raise ValueError(f"tokenizer={kind!r}; expected 'bpe' or 'qwen'")


# ---------------------------------------------------------------------------------------------
# Tiny Qwen2 model
# ---------------------------------------------------------------------------------------------


def tiny_shape_problem(layers: int, hidden: int, heads: Optional[int] = None, kv_heads: Optional[int] = None) -> Optional[str]:
    """Why ``build_tiny_model`` cannot build this shape (None: it can): checked by ``drugenv train`` before Ray
    starts, where ``tiny:L2H100`` was a traceback from inside the run."""
    nh = heads or max(1, hidden // 32)
    nkv = kv_heads or (nh // 2 if nh % 2 == 0 else nh)
    if layers < 1 or hidden < 1:
        return f"layers={layers}, hidden={hidden}: both must be >= 1"
    if hidden % nh or nh % nkv:
        return (f"hidden={hidden}, heads={nh}, kv_heads={nkv}: hidden must divide by heads and heads by kv_heads "
                "(the default heads are hidden // 32: use a multiple of 32, e.g. tiny:L2H128)")
    return None


def build_tiny_model(
    save_dir: Path | str,
    *,
    layers: int = 2,
    hidden: int = 128,
    tokenizer: TokenizerKind = "bpe",
    seed: int = 0,
    heads: Optional[int] = None,
    kv_heads: Optional[int] = None,
) -> Path:
    """Random-init ``Qwen2ForCausalLM`` + tokenizer saved with ``save_pretrained`` into ``save_dir``.

    Args:
        save_dir: output directory (created). Loadable with ``AutoModelForCausalLM.from_pretrained``.
        layers: decoder layers.
        hidden: hidden size; intermediate size is ``4*hidden``; head dim 32 by default.
        tokenizer: ``"bpe"`` (fast, ~1.6k vocab) or ``"qwen"`` (exact Qwen2.5, 151,936 embedding rows).
        seed: torch seed for the weights and the BPE corpus.
        heads: attention heads (default ``max(1, hidden // 32)``).
        kv_heads: key/value heads for GQA (default ``heads // 2`` when even, else ``heads``).

    Returns:
        ``Path(save_dir)``.
    """
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from drugenv.llm.architectures import rope_kwargs

    save_dir = Path(save_dir)
    if tokenizer == "qwen":  # 151k-token build takes seconds: reuse the cached copy
        tok = cached_tokenizer("qwen")
        _save_tokenizer(tok, save_dir, tokenizer_class="Qwen2Tokenizer")
    else:
        tok = build_tokenizer(tokenizer, save_dir, seed=seed)
    problem = tiny_shape_problem(layers, hidden, heads, kv_heads)
    if problem:
        raise ValueError(problem)
    nh = heads or max(1, hidden // 32)
    nkv = kv_heads or (nh // 2 if nh % 2 == 0 else nh)
    vocab = QWEN_VOCAB_ROWS if tokenizer == "qwen" else -(-len(tok) // 64) * 64
    cfg = Qwen2Config(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
        num_attention_heads=nh, num_key_value_heads=nkv, max_position_embeddings=4096, tie_word_embeddings=True,
        **rope_kwargs(1_000_000.0),  # Qwen2.5's base, in the keyword this transformers reads
        bos_token_id=None, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(cfg)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(save_dir)
    (save_dir / "drugenv_tiny.json").write_text(json.dumps(
        {"layers": layers, "hidden": hidden, "tokenizer": tokenizer, "seed": seed, "heads": nh, "kv_heads": nkv,
         "params": sum(p.numel() for p in model.parameters())}, indent=2), encoding="utf-8")
    return save_dir


def _code_fingerprint() -> str:
    """Hash of the code that determines a tiny model's bytes (this module and the prompt corpus)."""
    import drugenv.actions
    import drugenv.llm.prompts

    h = hashlib.sha256()
    for mod in (sys.modules[__name__], drugenv.actions, drugenv.llm.prompts):
        h.update(inspect.getsource(mod).encode())
    return h.hexdigest()[:16]


def cached_tiny_model(cache_dir: Optional[Path | str] = None, **config: Any) -> Path:
    """Build a tiny model once and reuse it: the directory is keyed by a hash of ``config`` and the code.

    ``config`` takes ``build_tiny_model``'s keyword arguments. Safe under concurrent callers: each
    builds into a private temporary directory and the first atomic rename wins.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cfg = {"layers": 2, "hidden": 128, "tokenizer": "bpe", "seed": 0, **config}
    key = hashlib.sha256((json.dumps(cfg, sort_keys=True) + _code_fingerprint()).encode()).hexdigest()[:16]
    final = cache / "tiny" / f"L{cfg['layers']}H{cfg['hidden']}-{cfg['tokenizer']}-{key}"
    return build_once(final, lambda tmp: build_tiny_model(tmp, **cfg))


def build_once(final: Path, build: Callable[[Path], Any]) -> Path:
    """``final`` (a model directory) if it holds a ``config.json``; else ``build(tmp)`` into a private
    temporary directory beside it and rename that into place. Safe under concurrent builders (Ray
    actors, pytest workers): each builds privately and the first atomic rename wins."""
    if (final / "config.json").exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=final.parent))
    tmp.chmod(0o755)
    try:
        build(tmp)
        os.replace(tmp, final)
    except OSError:
        if not (final / "config.json").exists():
            raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def cached_tokenizer(kind: TokenizerKind = "bpe", cache_dir: Optional[Path | str] = None, *, seed: int = 0):
    """A tokenizer built once into the cache (keyed by kind, seed and code) and loaded from there."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = hashlib.sha256(f"{kind}-{seed}-{_code_fingerprint()}".encode()).hexdigest()[:16]
    final = cache / "tokenizers" / f"{kind}-{key}"
    if not (final / "tokenizer_config.json").exists():
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=final.parent))
        tmp.chmod(0o755)
        try:
            build_tokenizer(kind, tmp, seed=seed)
            os.replace(tmp, final)
        except OSError:
            if not (final / "tokenizer_config.json").exists():
                raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return load_tokenizer(final)


__all__ = [
    "BPE_SPECIAL_TOKENS",
    "QWEN25_ADDED_TOKENS",
    "QWEN_CHAT_TEMPLATE_SHA256",
    "QWEN_TIKTOKEN_SHA256",
    "QWEN_TIKTOKEN_WHEEL",
    "QWEN_VOCAB_ROWS",
    "TokenizerKind",
    "TokenizerUnavailable",
    "build_bpe_tokenizer",
    "build_qwen_tokenizer",
    "build_tiny_model",
    "build_tokenizer",
    "cached_tiny_model",
    "cached_tokenizer",
    "chat_template",
    "default_cache_dir",
    "domain_corpus",
    "fetch_qwen_tiktoken",
    "tiny_shape_problem",
]
