"""GRPO checkpoints as LLM agents: the checkpoint layout, its metadata, and loading one as an ``HFPolicy``.

A GRPO checkpoint directory holds ``drugenv_checkpoint.json`` (``CHECKPOINT_META``: which base model
the adapter belongs to, the run's settings) and the LoRA adapter in peft format under ``adapter/``
(``ADAPTER_DIR``). ``training.grpo_train`` writes that layout; everything that reads it is here:

- ``resolve_adapter_checkpoint``: a GRPO checkpoint, or a bare peft adapter directory, to the
  ``(base model, adapter, metadata)`` the Serve agent loads; reads only small JSON files, so a CLI
  can check a path before Ray or a model starts.
- ``trained_budget``: the prompt budget an adapter was trained with (``HFPolicy``'s default).
- ``load_grpo_checkpoint_policy``: the checkpoint as a greedy ``HFPolicy``.

``--agent checkpoint:PATH`` (GRPO or PPO) is dispatched by the agent registry,
``drugenv.evaluation.agents.load_checkpoint_policy``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional

from drugenv.errors import ConfigError
from drugenv.llm.prompts import DEFAULT_MAX_PROMPT_TOKENS
from drugenv.storage import fetch_checkpoint, is_uri

CHECKPOINT_META = "drugenv_checkpoint.json"
"""The metadata file of a GRPO checkpoint (``algo``, ``model``, ``settings``, ``iteration``)."""
ADAPTER_DIR = "adapter"
"""The peft adapter's directory inside a GRPO checkpoint."""


def require_existing(path: str | Path, what: str = "checkpoint") -> Path:
    """``path`` as a ``Path``; ``ConfigError`` (one line: what, why, fix) when it does not exist. A URI (a
    checkpoint a run's ``--storage`` kept) is copied here first (``drugenv.storage.fetch_checkpoint``)."""
    if not str(path).strip():  # Path("") is ".", which exists: "checkpoint:" would name the working directory
        raise ConfigError(f"{what} path is empty; pass a checkpoint directory a training run wrote, e.g. "
                          "runs/grpo_tiny_cpu/checkpoint_final")
    if is_uri(str(path)):  # kept by a run's --storage (s3://..., file://...): read from a local copy
        return fetch_checkpoint(str(path))
    p = Path(path).expanduser()
    if not p.exists():
        raise ConfigError(f"{what} {str(path)!r} does not exist; pass a checkpoint directory a training run wrote "
                          "(bash scripts/main.sh writes runs/grpo_tiny_cpu/checkpoint_final; drugenv train "
                          "rllib_configs/ppo_vector.py writes runs/ppo_vector/checkpoint_final)")
    return p


CHECKPOINT_FINAL = "checkpoint_final"
"""The checkpoint a training run writes last (``runs/NAME/checkpoint_final``)."""


PARTIAL_SUFFIXES = (".tmp", ".old")
"""A checkpoint folder being written (``checkpoint_*.tmp``) or being replaced (``.old``) when its run stopped
(``training.run_files.write_dir_atomically``): it may hold part of a checkpoint."""


def resolve_checkpoint_dir(path: str | Path) -> Path:
    """``path``, or its ``checkpoint_final`` when ``path`` is a run's folder rather than a checkpoint: the
    one place ``--resume RUN``, ``--agent checkpoint:RUN`` and a PPO module's lookup read a folder.

    A ``checkpoint_*.tmp`` / ``.old`` folder is a ``ConfigError`` naming the run's newest whole checkpoint: a
    kill while a GRPO checkpoint was written left RLlib's state without the adapter or metadata, which read as a
    PPO checkpoint (and evaluated to a ``KeyError`` traceback)."""
    p = Path(path)
    if p.name.startswith("checkpoint_") and p.name.endswith(PARTIAL_SUFFIXES):
        newest = newest_checkpoint(p.parent)
        raise ConfigError(f"{path} is a checkpoint its run was writing or replacing when it stopped, and may be "
                          "incomplete; " + (f"pass the run's newest whole checkpoint, {newest}" if newest else
                                            "its run left no whole checkpoint"))
    return p / CHECKPOINT_FINAL if not is_checkpoint_dir(p) and (p / CHECKPOINT_FINAL).is_dir() else p


def is_checkpoint_dir(path: Path) -> bool:
    """Whether ``path`` holds a checkpoint a run wrote (GRPO's metadata, or RLlib's algorithm state)."""
    return (path / CHECKPOINT_META).is_file() or (path / "algorithm_state.pkl").is_file()


def checkpoint_iteration(path: Path) -> Optional[int]:
    """The training iteration checkpoint ``path`` holds: its metadata's (GRPO), else its ``checkpoint_iter_N``
    name's; None when neither says (a PPO ``checkpoint_final``)."""
    try:
        iteration = (read_checkpoint_meta(path) or {}).get("iteration")
    except ConfigError:  # unreadable metadata: the name may still say
        iteration = None
    if isinstance(iteration, int) and not isinstance(iteration, bool):
        return iteration
    digits = path.name.rpartition("_")[2]
    return int(digits) if path.name.startswith("checkpoint_iter_") and digits.isdigit() else None


def newest_checkpoint(run: str | Path) -> Optional[Path]:
    """The checkpoint that continues the run in folder ``run``: the whole one of the latest iteration, its
    ``checkpoint_final`` on a tie (or when the final does not say its iteration: PPO writes no other); None when it
    wrote none. A run resumed into its own folder and stopped leaves the earlier run's ``checkpoint_final`` beside
    newer ``checkpoint_iter_*``: the final was taken, and the iterations after it lost."""
    run = Path(run)
    # Not a checkpoint_iter_N.tmp / .old: one being written, or replaced, when the run stopped
    found = [c for c in run.glob("checkpoint_iter_*") if c.name.rpartition("_")[2].isdigit() and c.is_dir() and is_checkpoint_dir(c)]
    at = {c: checkpoint_iteration(c) for c in found}  # a checkpoint_iter_N always has one: its name's N at least
    latest = max(found, key=lambda c: (at[c], c.name), default=None)
    final = run / CHECKPOINT_FINAL
    if is_checkpoint_dir(final):
        final_at = checkpoint_iteration(final)
        if latest is None or final_at is None or final_at >= at[latest]:
            return final
    return latest


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in file ``path``; ``ConfigError`` naming the file when it is unreadable, not JSON, or
    not an object (a checkpoint's files are read before any model loads, so a corrupt one is a mistake to
    report in one line, not a traceback)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(f"{path} is not readable JSON ({type(e).__name__}: {e}); write the checkpoint again, or pass "
                          "another one") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path} holds a JSON {type(value).__name__}, not the object a checkpoint writes there; "
                          "write the checkpoint again, or pass another one")
    return value


def read_checkpoint_meta(path: str | Path) -> Optional[dict[str, Any]]:
    """The ``drugenv_checkpoint.json`` of checkpoint directory ``path``; None when there is none."""
    meta_file = Path(path) / CHECKPOINT_META
    return read_json_object(meta_file) if meta_file.is_file() else None


def is_grpo_checkpoint(path: str | Path) -> bool:
    """True when ``path`` is a GRPO checkpoint directory (its metadata says ``algo: grpo``)."""
    meta = read_checkpoint_meta(path) if Path(path).is_dir() else None
    return bool(meta) and meta.get("algo") == "grpo"


def follow_moved_run(recorded: Optional[str], checkpoint: str | Path) -> Optional[str]:
    """``recorded``, a model path from a checkpoint's metadata or adapter config, after its run moved.

    A run writes its base and SFT models beside its checkpoints (``runs/NAME/sft_model``) and records
    their absolute paths. Once the run directory is renamed or moved (to keep it while the next run of
    the same config writes ``runs/NAME``), those paths name the old place, or a different run's model
    now sitting there. So an absolute path recorded in another directory than the checkpoint's own
    run directory is replaced by the model of the same name beside the checkpoint, where there is one;
    hub ids, relative paths and models that lie outside any run are kept as recorded.
    """
    if not recorded or not Path(recorded).is_absolute():
        return recorded
    run_dir = Path(checkpoint).resolve().parent
    beside = run_dir / Path(recorded).name
    return str(beside) if Path(recorded).parent != run_dir and beside.is_dir() else recorded


def resolve_adapter_checkpoint(path: str | Path, model: Optional[str] = None) -> tuple[str, str, dict[str, Any]]:
    """``(base model, adapter dir, checkpoint metadata)`` for a GRPO checkpoint or a peft adapter directory.

    The base model is ``model`` when given, else ``base_model_name_or_path`` from the adapter's
    ``adapter_config.json``, else the ``model`` recorded in ``drugenv_checkpoint.json``.
    """
    p = require_existing(path)
    adapter = p / ADAPTER_DIR if (p / ADAPTER_DIR / "adapter_config.json").is_file() else p
    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"{path} holds no LoRA adapter (no adapter_config.json in it or in {p / ADAPTER_DIR}); pass a GRPO "
                          "run's checkpoint directory (e.g. runs/grpo_tiny_cpu/checkpoint_final) or a peft adapter directory")
    meta = read_checkpoint_meta(adapter.parent) or {}
    base = model or read_json_object(adapter / "adapter_config.json").get("base_model_name_or_path") or meta.get("model")
    if not model and meta:  # a checkpoint of a run directory that may have moved since
        base = follow_moved_run(base, adapter.parent)
    if not base:
        raise ConfigError(f"{adapter / 'adapter_config.json'} names no base model (base_model_name_or_path is empty); "
                          "pass it with --model PATH_OR_HUB_ID")
    return str(base), str(adapter.resolve()), meta


def trained_budget(adapter: str | Path | None) -> int:
    """The prompt budget a checkpoint's adapter was trained with, else ``DEFAULT_MAX_PROMPT_TOKENS``.

    Read from ``training.max_prompt_tokens`` (else ``run.eval_max_prompt_tokens``) of the settings in
    the ``drugenv_checkpoint.json`` beside the adapter directory.
    """
    if adapter is not None:
        try:
            s = (read_checkpoint_meta(Path(adapter).parent) or {}).get("settings", {})
            return int(s.get("training", {}).get("max_prompt_tokens") or s["run"]["eval_max_prompt_tokens"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    return DEFAULT_MAX_PROMPT_TOKENS


DEFAULT_CHECKPOINT_MAX_NEW_TOKENS = 128
"""A checkpoint's completion cap when its settings name none (``checkpoint_budgets``)."""


def checkpoint_budgets(meta: Optional[Mapping[str, Any]]) -> tuple[int, int]:
    """``(max_new_tokens, max_prompt_tokens)`` a checkpoint decodes with, as its run evaluated it: the
    settings' ``run.eval_max_new_tokens`` / ``run.eval_max_prompt_tokens``, else the ``training`` values
    it was trained with, else ``DEFAULT_CHECKPOINT_MAX_NEW_TOKENS`` / ``DEFAULT_MAX_PROMPT_TOKENS``.
    ``drugenv eval --agent checkpoint:`` and ``drugenv serve`` both read them here."""
    settings = (meta or {}).get("settings") or {}
    run, training = settings.get("run") or {}, settings.get("training") or {}
    new = run.get("eval_max_new_tokens") or training.get("max_new_tokens") or DEFAULT_CHECKPOINT_MAX_NEW_TOKENS
    prompt = run.get("eval_max_prompt_tokens") or training.get("max_prompt_tokens") or DEFAULT_MAX_PROMPT_TOKENS
    return int(new), int(prompt)


GRPO_POLICY_OPTIONS: tuple[str, ...] = ("device", "dtype", "batch_size")
"""The ``HFPolicy`` keywords a GRPO checkpoint's policy takes from its caller (``drugenv eval --extra``)."""


def load_grpo_checkpoint_policy(path: str | Path, **kwargs: Any) -> Any:
    """A GRPO checkpoint as a greedy ``HFPolicy``.

    The base model is the metadata's ``model`` (``follow_moved_run``; else the adapter's ``base_model_name_or_path``), with
    ``adapter/``; the completion cap and prompt budget are the run's (``checkpoint_budgets``). ``kwargs`` go to
    ``HFPolicy`` (device, dtype, batch_size…)."""
    from drugenv.llm.policy import HFPolicy, SamplingConfig

    p = require_existing(path)
    unknown = sorted(set(kwargs) - set(GRPO_POLICY_OPTIONS))
    if unknown:  # the sampling and the token budgets are the run's: greedy, as it was evaluated
        raise ConfigError(f"a GRPO checkpoint's policy takes --extra {', '.join(GRPO_POLICY_OPTIONS)} only, not "
                          f"{', '.join(unknown)}: it decodes greedily with its run's token budgets")
    meta = read_checkpoint_meta(p)
    if not meta or meta.get("algo") != "grpo":
        raise ConfigError(f"{path} is not a DrugEnv GRPO checkpoint (no {CHECKPOINT_META} with algo 'grpo' in it); "
                          "pass a checkpoint_* directory of a GRPO run")
    max_new_tokens, max_prompt_tokens = checkpoint_budgets(meta)
    model = follow_moved_run(meta.get("model"), p) or resolve_adapter_checkpoint(p)[0]  # else the adapter's own base model
    # Said in one line before anything loads: a run whose base model folder was deleted, or a damaged adapter
    # config, was a loader's 50-90-line traceback.
    from drugenv.llm.run_agent import missing_local_path

    if isinstance(model, str) and missing_local_path(model):
        raise ConfigError(f"{path}: its base model {model!r} does not exist (was the run's sft_model/ moved or deleted?)")
    if (p / ADAPTER_DIR / "adapter_config.json").is_file():
        read_json_object(p / ADAPTER_DIR / "adapter_config.json")
    try:
        return HFPolicy(model, adapter=str(p / ADAPTER_DIR),
                        sampling=SamplingConfig(temperature=0.0, max_new_tokens=max_new_tokens),
                        max_prompt_tokens=max_prompt_tokens, **kwargs)
    except (OSError, ValueError) as e:  # not in the HF cache while offline, no such hub repo, not an adapter
        raise ConfigError(f"{path}: cannot load its model {model!r} with its adapter: {' '.join(str(e).split())[:300]}") from None


__all__ = [
    "ADAPTER_DIR",
    "CHECKPOINT_FINAL",
    "CHECKPOINT_META",
    "DEFAULT_CHECKPOINT_MAX_NEW_TOKENS",
    "GRPO_POLICY_OPTIONS",
    "PARTIAL_SUFFIXES",
    "checkpoint_budgets",
    "checkpoint_iteration",
    "follow_moved_run",
    "is_checkpoint_dir",
    "is_grpo_checkpoint",
    "load_grpo_checkpoint_policy",
    "newest_checkpoint",
    "read_checkpoint_meta",
    "require_existing",
    "resolve_adapter_checkpoint",
    "resolve_checkpoint_dir",
    "trained_budget",
]
