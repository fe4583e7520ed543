"""Read what training runs leave under ``runs/``, tolerating folders that are half written or damaged.

A run folder is read, never written. The files are those of ``drugenv train`` (see the module
docstrings of ``drugenv.training.grpo_train`` and ``drugenv.training.ppo``):

| kind | marker                               | curve         | finished when                                     |
|------|--------------------------------------|---------------|---------------------------------------------------|
| grpo | settings.json (``algo`` grpo or none) | metrics.jsonl | evidence/before_after_metrics.json has after_grpo |
| ppo  | settings.json with ``algo`` ppo_*     | metrics.jsonl | summary.json exists                               |

(Both are ``drugenv.training.run_files``' layout.)

An unfinished run is running while it writes, and failed (stopped) when it wrote ``stopped.json`` (an
interrupted or failed run's clean-up), when the process its ``.drugenv.lock`` names on this host no longer
exists (a killed run: ``_ended_holder``), or when nothing was written for ``stale_after`` seconds (a run on
another host, or one whose lock file names no host: those an earlier version wrote).

Sweeps (``drugenv.dashboard.sweeps``) and run-agent snapshots (``drugenv.dashboard.episodes``) are
found by the same walk. Nothing here raises on bad input: every unreadable file, corrupt line or
missing file becomes a sentence in ``problems``, which the page shows.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, Field

from drugenv.dashboard.evidence import before_after, checkpoints, references
from drugenv.llm.run_agent import DASHBOARD_STATE_FILE
from drugenv.training import metrics as m
from drugenv.training.metrics import HELDOUT_PREFIX
from drugenv.training.ppo import TRAIN_RETURN
from drugenv.training.run_files import LOCK_FILE, lock_holder

SNAPSHOT_NAME = DASHBOARD_STATE_FILE
GRPO_MARKERS = ("settings.json", "metrics.jsonl")
SWEEP_MARKERS = ("results.csv", "best_trial.json", "tune")
_NOT_RUNS = {"tune", "evidence", "base_model", "sft_model", "adapter", "adapter_eval"}
"""Folders inside a run that are never runs themselves (checkpoint_* are skipped by prefix too)."""
MAX_DEPTH = 3
"""How deep under the runs root a run folder may sit (runs/sweeps/<name> is depth 2)."""
MAX_ITERATION = 10**9
"""Iterations at or above this are not ones a run wrote (a damaged line): the row is skipped."""

H = HELDOUT_PREFIX
CURVE_PANELS: list[dict[str, Any]] = [
    {"id": "return", "title": "Episode return", "reference": "mean_return",
     "series": [[m.CURVE_RETURN, "rollout return"], [TRAIN_RETURN, "rollout return"], [H + "mean_return", "held-out return"]]},
    {"id": "decisions", "title": "Held-out decisions", "reference": "decision_accuracy",
     "series": [[H + "decision_accuracy", "accuracy"], [H + "brier", "Brier"], [H + "decision_utility", "decision utility"],
                [H + "report_rate", "report rate (held-out)"], [m.CURVE_REPORT_RATE, "report rate (rollout)"]]},
    {"id": "credits", "title": "Credits used (held-out)", "reference": "credits_used", "series": [[H + "credits_used", "credits used"]]},
    {"id": "time", "title": "Seconds per iteration", "stacked": True,
     "series": [[m.CURVE_TIMER_ROLLOUT, "rollout"], [m.CURVE_TIMER_LEARNER, "learner"], [m.CURVE_TIMER_SYNC, "sync"]]},
]
"""The training-curve charts: each series is [metrics.jsonl key, label]; the page draws what a run has."""


class RunSummary(BaseModel):
    """One row of the runs list."""

    id: str = Field(..., description="Path relative to the runs root, '/'-separated.")
    kind: Literal["grpo", "ppo", "sweep", "unknown"]
    status: Literal["running", "finished", "failed"]
    status_reason: str
    iteration: Optional[int] = None
    iterations_total: Optional[int] = None
    elapsed_s: Optional[float] = Field(None, description="First to last write, or to now while running, s.")
    updated_at: Optional[float] = Field(None, description="Newest file write, Unix time.")
    config: dict[str, Any] = Field(default_factory=dict, description="The few settings that name the run.")
    problems: list[str] = Field(default_factory=list)


class RunDetail(RunSummary):
    """Everything the run page draws."""

    settings: Optional[dict[str, Any]] = None
    curve: list[dict[str, Any]] = Field(default_factory=list, description="metrics.jsonl rows, in file order.")
    panels: list[dict[str, Any]] = Field(default_factory=lambda: CURVE_PANELS)
    references: dict[str, dict[str, float]] = Field(default_factory=dict, description="heuristic / oracle held-out metrics.")
    checkpoints: list[dict[str, Any]] = Field(default_factory=list)
    before_after: Optional[dict[str, Any]] = None


def finite_number(value: Any) -> Optional[float]:
    """``value`` as a float where a file holds a finite number (not a bool, a string, an integer too large for a
    float, NaN or an infinity), else None: what the page can draw."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer of 309 digits or more
        return None
    return number if math.isfinite(number) else None


def _reference_numbers(refs: dict[str, dict[str, Any]], problems: list[str]) -> dict[str, dict[str, float]]:
    """The reference lines' metrics that are finite numbers. A value of another kind (a damaged report) is left
    out and named; null, NaN and infinities (a metric of no episode) are left out as nothing to draw."""
    out: dict[str, dict[str, float]] = {}
    for agent, table in refs.items():
        out[agent] = {}
        for key, value in table.items():
            number = finite_number(value)
            if number is not None:
                out[agent][key] = number
            elif value is not None and not isinstance(value, float):
                problems.append(f"evidence/before_after_metrics.json: {agent}'s {str(key)[:60]!r} is not a finite number; "
                                "left off its reference line.")
    return out


def _iterations_total(settings: dict[str, Any], run_cfg: dict[str, Any], problems: list[str]) -> Optional[int]:
    """The iteration the run ends at: settings.json's ``run.iterations``, where it is a count of iterations,
    after the iteration a ``--resume`` run started from (``resumed_at_iteration``: it counts the iterations
    after its checkpoint, so a run resumed at 30 for 8 more ends at 38, not "30 / 8")."""
    total = run_cfg.get("iterations")
    if total is None:
        return None
    if not (isinstance(total, int) and not isinstance(total, bool) and 0 < total < MAX_ITERATION):
        problems.append(f"settings.json: run.iterations is {str(total)[:40]!r}, not a count of iterations; ignored.")
        return None
    start = settings.get("resumed_at_iteration", 0)
    if not (isinstance(start, int) and not isinstance(start, bool) and 0 <= start < MAX_ITERATION):
        problems.append(f"settings.json: resumed_at_iteration is {str(start)[:40]!r}, not an iteration; ignored.")
        start = 0
    return start + total


def leads_out(path: Path, root: Path) -> bool:
    """Whether ``path`` is a link (or lies under one) whose target is outside ``root``: such a file is never
    read, or a run folder holding a link to any file the dashboard's user can read would serve it."""
    try:
        return not path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError, ValueError):  # a link loop, a NUL
        return True


def skipped_link(path: Path, problems: list[str], root: Path) -> bool:
    """Whether ``path`` ``leads_out`` of ``root``, adding the problem line that says why it is not shown."""
    if leads_out(path, root):
        problems.append(f"{path.relative_to(root)}: a link leading out of the runs folder; not read.")
        return True
    return False


def read_json(path: Path, problems: list[str], root: Path) -> Optional[Any]:
    """The parsed file, or None with a sentence in ``problems`` (a missing file is the caller's call)."""
    if skipped_link(path, problems, root):
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        problems.append(f"{path.relative_to(root)}: cannot be read ({e}).")
    except json.JSONDecodeError as e:
        problems.append(f"{path.relative_to(root)}: not valid JSON ({e}); ignored.")
    except (ValueError, RecursionError) as e:  # an integer of more than 4,300 digits; nesting too deep
        problems.append(f"{path.relative_to(root)}: not readable JSON ({type(e).__name__}); ignored.")
    return None


def read_jsonl(path: Path, problems: list[str], root: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file; a bad line is skipped and reported. An unterminated last line that
    does not parse is a write in progress, so it is skipped silently and read on the next poll."""
    if skipped_link(path, problems, root):
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        problems.append(f"{path.relative_to(root)}: cannot be read ({e}).")
        return []
    rows, lines = [], text.split("\n")
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as e:  # JSONDecodeError, too-long integers, too-deep nesting
            if n < len(lines):  # an unterminated last line is a write in progress
                why = e.msg if isinstance(e, json.JSONDecodeError) else type(e).__name__
                problems.append(f"{path.relative_to(root)} line {n}: not valid JSON ({why}); line skipped.")
            continue
        it = row.get("iteration") if isinstance(row, dict) else None
        if not isinstance(it, int) or isinstance(it, bool) or not 0 <= it < MAX_ITERATION:
            problems.append(f"{path.relative_to(root)} line {n}: expected an object with an integer 'iteration' "
                            f"in [0, {MAX_ITERATION}); line skipped.")
            continue
        rows.append(row)
    return rows


def _settings_algo(path: Path) -> str:
    """``settings.json``'s ``algo`` ("" when absent or unreadable: GRPO runs made before it was written)."""
    try:
        algo = json.loads((path / "settings.json").read_text(encoding="utf-8")).get("algo", "")
    except (OSError, ValueError, AttributeError, RecursionError):
        return ""
    return algo if isinstance(algo, str) else ""


def kind_of(path: Path) -> Optional[str]:
    """'grpo' | 'ppo' | 'sweep' | 'unknown' (a run folder without its marker) | None (not a run)."""
    if any((path / f).exists() for f in SWEEP_MARKERS):
        return "sweep"
    if any((path / f).exists() for f in GRPO_MARKERS):
        return "ppo" if _settings_algo(path).startswith("ppo") else "grpo"
    if (path / "evidence").is_dir() or any(p.name.startswith("checkpoint_") for p in path.iterdir() if p.is_dir()):
        return "unknown"
    return None


def _folders(root: Path) -> list[Path]:
    """Folders under ``root`` up to ``MAX_DEPTH`` deep, skipping hidden ones and a run's own subfolders,
    and links that lead out of ``root``: ``resolve`` refuses those, so they are not listed either."""
    inside = root.resolve()
    out, stack = [], [(root, 0)]
    while stack:
        path, depth = stack.pop()
        try:
            children = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            continue
        for child in children:
            if child.name in _NOT_RUNS or child.name.startswith("checkpoint_"):
                continue
            try:
                if not child.resolve().is_relative_to(inside):
                    continue
            except (OSError, RuntimeError):  # a link loop
                continue
            out.append(child)
            if depth + 1 < MAX_DEPTH:
                stack.append((child, depth + 1))
    return sorted(out)


def discover(root: Path) -> dict[str, Path]:
    """Run folders under ``root``, by id (the path relative to ``root``)."""
    return {p.relative_to(root).as_posix(): p for p in _folders(root) if kind_of(p) is not None}


def snapshots(root: Path) -> dict[str, Path]:
    """``_dashboard_state.json`` files under ``root`` (run-agent snapshots), by id."""
    dirs = [root, *_folders(root)] if root.is_dir() else []
    return {(p / SNAPSHOT_NAME).relative_to(root).as_posix(): p / SNAPSHOT_NAME for p in dirs
            if (p / SNAPSHOT_NAME).is_file() and not leads_out(p / SNAPSHOT_NAME, root)}


def resolve(root: Path, run_id: str) -> Optional[Path]:
    """The folder of ``run_id`` if it is a run inside ``root`` that ``discover`` lists: not hidden, not a
    checkpoint or a run's own subfolder (ids from the page are never trusted)."""
    try:
        inside = root.resolve()
        path = (root / run_id).resolve()
        if not path.is_relative_to(inside) or not path.is_dir():
            return None
        parts = path.relative_to(inside).parts
        if len(parts) > MAX_DEPTH or any(p.startswith(".") or p in _NOT_RUNS or p.startswith("checkpoint_") for p in parts):
            return None
    except (ValueError, OSError, RuntimeError):  # a NUL in the id, a name too long, a symlink loop (RuntimeError
        return None                                  # before Python 3.13): no such run
    return path if kind_of(path) is not None else None


def _mtime(path: Path, field: str = "st_mtime") -> Optional[float]:
    try:
        return getattr(path.stat(), field)
    except OSError:  # deleted between listing and stat
        return None


def _times(path: Path) -> tuple[Optional[float], Optional[float]]:
    """(start, last write): settings.json is written first, so its time is the start when it exists. Else
    (a sweep) the earliest time an entry was made here: not its modification time, which a copy keeps (a
    sweep's copied base model once dated the sweep from when the model was first built)."""
    files = [path, *path.iterdir(), *((path / "evidence").iterdir() if (path / "evidence").is_dir() else ())]
    stamps = [t for t in map(_mtime, files) if t is not None]
    if not stamps:
        return None, None
    made = [t for t in (_mtime(f, "st_ctime") for f in files[1:]) if t is not None]
    return _mtime(path / "settings.json") or min(made or stamps), max(stamps)


def _status(finished: bool, updated: Optional[float], stale_after: float, done_note: str) -> tuple[str, str]:
    if finished:
        return "finished", done_note
    age = time.time() - (updated or 0.0)
    if age <= stale_after:
        return "running", f"last write {age:.0f} s ago"
    return "failed", (f"no new output for {age / 60:.0f} min and no final results: the process stopped before "
                      f"finishing (no write for {stale_after / 60:.0f} min counts as stopped)")


def _ended_holder(path: Path) -> Optional[int]:
    """The process id that ``path``'s lock file (``run_files.lock_folder``) names when that process ran on this
    host and exists no more: the run, or sweep, was killed before its clean-up. None when it exists, when it
    ran on another host or the file names none (an earlier version's bare process id), or when there is no
    file to read. The file is only read: taking its lock to probe would race with a run starting there."""
    if os.name != "posix":  # os.kill(pid, 0) would end the process elsewhere; no lock files there anyway
        return None
    lock = path / LOCK_FILE
    try:
        if lock.is_symlink():  # lock_folder makes none: not a run's
            return None
        with open(lock, "rb") as f:
            holder = lock_holder(f.read(4096).decode())
    except (OSError, UnicodeDecodeError):
        return None
    if holder is None or holder.host != socket.gethostname():
        return None
    try:
        os.kill(holder.pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return holder.pid
    except (OSError, OverflowError, ValueError):  # PermissionError: it exists, another user's
        return None
    return None


def load_run(root: Path, path: Path, *, stale_after: float, with_references: bool = False) -> RunDetail:
    """Everything known about the run in ``path``; bad or missing files become ``problems``.

    ``with_references``: also evaluate the heuristic / oracle reference lines if the run has none yet
    (seconds of CPU, once per held-out suite; the runs list does not need them).
    """
    problems: list[str] = []
    kind = kind_of(path) or "unknown"
    settings = read_json(path / "settings.json", problems, root) if (path / "settings.json").exists() else None
    report: Optional[dict[str, Any]] = None
    if kind == "sweep":
        curve, finished, note = [], (path / "results.csv").exists(), "results.csv written"
    elif kind == "ppo":
        curve = read_jsonl(path / "metrics.jsonl", problems, root) if (path / "metrics.jsonl").exists() else []
        finished, note = (path / "summary.json").exists(), "summary.json written"
    else:
        if settings is None and kind == "grpo":
            problems.append("settings.json is missing: drugenv train writes it first, so this folder was not made by it "
                            "or was copied in part.")
        curve = read_jsonl(path / "metrics.jsonl", problems, root) if (path / "metrics.jsonl").exists() else []
        ba = path / "evidence" / "before_after_metrics.json"
        report = read_json(ba, problems, root) if ba.exists() else None
        if report is not None and not isinstance(report, dict):
            problems.append("evidence/before_after_metrics.json: expected an object of metric tables; ignored.")
            report = None
        finished, note = bool(report and "after_grpo" in report), "evidence/before_after_metrics.json has the final evaluation"
    if settings is not None and not isinstance(settings, dict):
        problems.append("settings.json: expected an object of settings; ignored.")
        settings = None
    first, updated = _times(path)
    status, reason = _status(finished, updated, stale_after, note)
    stopped = path / "stopped.json"  # drugenv train writes it when a run ends unfinished (training.run_files)
    if not finished and kind != "sweep" and stopped.exists():
        why = read_json(stopped, problems, root)
        why = why.get("why") if isinstance(why, dict) else None
        status, reason = "failed", f"stopped before finishing: {why if isinstance(why, str) else 'see stopped.json'}"
    elif not finished and (pid := _ended_holder(path)) is not None:
        status, reason = "failed", (f"stopped before finishing: its process {pid} on this host ended without writing "
                                    + ("results.csv (interrupted or killed)" if kind == "sweep" else "stopped.json (killed?)"))
    if kind not in ("ppo", "sweep") and not (path / "metrics.jsonl").exists():
        if status == "running" and settings is not None:  # normal: base-model evaluation and SFT come first
            reason += "; no iteration has finished yet (the base-model evaluation and SFT come first)"
        else:
            problems.append("metrics.jsonl is missing: no training iteration was recorded in this folder.")
    run_cfg = (settings or {}).get("run", {}) if isinstance((settings or {}).get("run"), dict) else {}
    end = time.time() if status == "running" else updated
    return RunDetail(
        id=path.relative_to(root).as_posix(), kind=kind, status=status, status_reason=reason,
        iteration=curve[-1]["iteration"] if curve else None, iterations_total=_iterations_total(settings or {}, run_cfg, problems),
        elapsed_s=round(end - first, 1) if first and end else None, updated_at=updated,
        config=summary_config(settings or {}),
        problems=problems, settings=settings, curve=curve, checkpoints=checkpoints(path, curve, report),
        references=_reference_numbers(references(report, run_cfg, kind, problems), problems) if with_references else {},
        before_after=before_after(report),
    )


SUMMARY_SETTINGS = ("model", "algo", "training.loss_type", "training.group_size", "sft.expert", "seed")
"""Dotted settings.json keys the runs list shows: what tells one run from another at a glance."""


def summary_config(settings: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for dotted in SUMMARY_SETTINGS:
        value: Any = settings
        for part in dotted.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None and not isinstance(value, (dict, list)):
            out[dotted.split(".")[-1]] = value
    return out


__all__ = ["CURVE_PANELS", "RunDetail", "RunSummary", "SNAPSHOT_NAME", "discover", "finite_number", "kind_of", "load_run", "read_json",
           "read_jsonl", "resolve", "snapshots", "summary_config"]
