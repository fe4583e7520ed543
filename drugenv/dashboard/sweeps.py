"""Read a Tune sweep folder (``drugenv sweep`` output, see ``drugenv.tuning.sweep``) for the sweep page.

A finished sweep has ``results.csv`` (trials sorted best first, ``config.*`` columns) and
``best_trial.json`` (metric, mode, best trial id). While it runs only Tune's own files exist:
``tune/<trial>/params.json`` (the trial's config) and ``tune/<trial>/result.json`` (one JSON line
per ``tune.report``); the page then shows each trial's latest report.
"""

from __future__ import annotations

import csv
import json
import math
import re
import time
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, Field

from drugenv.dashboard.runs import finite_number, read_json, skipped_link
from drugenv.training.metrics import HELDOUT_PREFIX
from drugenv.tuning.sweep import HELDOUT_COLUMNS, flatten


class SweepDetail(BaseModel):
    """The sweep page: trials table and metric-vs-parameter plot."""

    id: str
    status: str = Field(..., description="'finished' (results.csv written) or 'running' (Tune's files only).")
    metric: Optional[str] = None
    mode: Optional[str] = None
    best_trial_id: Optional[str] = None
    params: list[str] = Field(default_factory=list, description="config.* columns, the swept parameters.")
    columns: list[str] = Field(default_factory=list)
    trials: list[dict[str, Any]] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


_INT = re.compile(r"-?\d{1,18}")
_FLOAT = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|-?(nan|inf)", re.I)


def _number(text: Any) -> Any:
    """CSV cells back to numbers where they are plain numbers (results.csv stores everything as text).
    Only a plain decimal is converted: ``float`` also reads ``12345_00002``, the form of a Tune trial id.
    A cell a short row lacks (``csv.DictReader`` gives None) stays None: a blank cell, not a 500."""
    if not isinstance(text, str):
        return text
    if _INT.fullmatch(text):
        return int(text)
    return float(text) if _FLOAT.fullmatch(text) else text


def _clean(v: Any) -> Any:
    """NaN and infinities are not JSON; the page shows them as a blank cell."""
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _text(v: Any) -> Optional[str]:
    """A name read from a file (a trial id, a metric): text, or None when it is not."""
    return v if isinstance(v, str) else None


APPEND_GRACE_S = 60.0
"""An unterminated last row of a ``result.json`` written this recently is a write in progress; an older one is
damage (a trial that died mid-row), reported."""


def _written_lately(path: Path) -> bool:
    try:
        return time.time() - path.stat().st_mtime < APPEND_GRACE_S
    except OSError:
        return False


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return False
    return True


def _tune_trials(tune_dir: Path, problems: list[str], root: Path) -> list[dict[str, Any]]:
    rows = []
    for trial in sorted(p for p in tune_dir.iterdir() if p.is_dir()):
        params = read_json(trial / "params.json", problems, root) if (trial / "params.json").exists() else None
        result = trial / "result.json"
        try:
            text = result.read_text(encoding="utf-8") if result.exists() and not skipped_link(result, problems, root) else ""
        except (OSError, UnicodeDecodeError) as e:
            problems.append(f"{result.relative_to(root)}: cannot be read ({e}); trial shown without results.")
            text = ""
        lines = [ln for ln in text.split("\n") if ln.strip()]
        if lines and not text.endswith("\n") and not _parses(lines[-1]) and _written_lately(result):
            lines.pop()  # Tune is still appending this row: the one before it is the trial's latest
        try:
            last = json.loads(lines[-1]) if lines else {}
        except (ValueError, RecursionError):
            problems.append(f"{result.relative_to(root)}: last line is not valid JSON; trial shown without results.")
            last = {}
        if not isinstance(last, dict):
            problems.append(f"{result.relative_to(root)}: last line is not a JSON object; trial shown without results.")
            last = {}
        row = {"trial_id": _text(last.get("trial_id")) or trial.name, "eval_rounds": last.get("training_iteration")}
        row.update({k: v for k, v in last.items() if k.startswith(HELDOUT_PREFIX)})
        if isinstance(params, dict) and isinstance(params.get("overrides"), dict):
            row.update({f"config.{k}": v for k, v in flatten(params["overrides"]).items()})
        rows.append(row)
    return rows


def load_sweep(root: Path, path: Path) -> SweepDetail:
    """The sweep in ``path``: results.csv when written, else Tune's per-trial files."""
    problems: list[str] = []
    best = read_json(path / "best_trial.json", problems, root) if (path / "best_trial.json").exists() else None
    best = best if isinstance(best, dict) else {}
    trials: list[dict[str, Any]] = []
    status = "running"
    if (path / "results.csv").exists():
        status = "finished"
        if not skipped_link(path / "results.csv", problems, root):
            try:
                with open(path / "results.csv", newline="", encoding="utf-8") as f:
                    # a trial id is a name, whatever it looks like ("12345_00002", "00042")
                    trials = [{k: v if k == "trial_id" else _number(v) for k, v in r.items() if k is not None}
                              for r in csv.DictReader(f)]
            except (OSError, csv.Error, UnicodeDecodeError) as e:
                problems.append(f"results.csv cannot be read ({e}).")
    elif (path / "tune").is_dir():
        trials = _tune_trials(path / "tune", problems, root)
    if not trials:
        problems.append("No trial has reported a held-out evaluation yet.")
    columns = list(dict.fromkeys(k for r in trials for k in r))
    metric = _text(best.get("metric")) or next((HELDOUT_PREFIX + k for k in HELDOUT_COLUMNS if HELDOUT_PREFIX + k in columns), None)
    mode = "min" if best.get("mode") == "min" else "max"
    best_id = _text(best.get("trial_id"))
    scored = [r for r in trials if finite_number(r.get(metric)) is not None]
    if best_id is None and scored:
        best_id = (min if mode == "min" else max)(scored, key=lambda r: finite_number(r[metric]))["trial_id"]
    return SweepDetail(
        id=path.relative_to(root).as_posix(), status=status, metric=metric, mode=mode, best_trial_id=best_id,
        params=[c for c in columns if c.startswith("config.")], columns=columns,
        trials=[{k: _clean(v) for k, v in r.items()} for r in trials], problems=problems,
    )


__all__ = ["SweepDetail", "load_sweep"]
