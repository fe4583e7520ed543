"""What a run's page shows besides its curve: checkpoint progression, the before/after card, and the
heuristic / oracle reference lines. Inputs are ``metrics.jsonl`` rows and
``evidence/before_after_metrics.json`` (written by ``drugenv.training.grpo_train.run_grpo``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Optional

from drugenv.evaluation.metrics import LOWER_IS_BETTER, METRIC_KEYS
from drugenv.training.ppo import HELDOUT_PREFIX, HELDOUT_SUITE

BEFORE_AFTER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("before", "untrained"), ("after_sft", "after SFT"), ("after_grpo", "after RL"),
    ("random", "random"), ("heuristic", "heuristic"), ("oracle", "oracle"))
"""before_after_metrics.json keys, in card order, with their labels."""
REFERENCE_AGENTS = ("heuristic", "oracle")
"""Agents drawn as reference lines on the training curve."""
MAX_REFERENCE_EPISODES = 1_000
"""The most held-out episodes the page plays the reference agents on while a run trains (inside a request: a few
seconds at this count); a run that evaluates on more gets its lines from its final report."""


@functools.lru_cache(maxsize=16)
def _baselines(suite: str, episodes: int, seed: int, max_steps: Optional[int]) -> dict[str, dict[str, float]]:
    from drugenv.training.grpo_train import baseline_metrics

    return baseline_metrics({"eval_suite": suite, "eval_episodes": episodes, "eval_seed": seed, "eval_max_steps": max_steps})


def references(report: Optional[dict[str, Any]], run_cfg: dict[str, Any], kind: str, problems: list[str]) -> dict[str, dict[str, float]]:
    """Heuristic and oracle held-out metrics: from the run's final report, or, while it trains,
    evaluated here on the run's own held-out episodes (once per suite/episodes/seed, cached)."""
    refs = {k: report[k] for k in REFERENCE_AGENTS if isinstance((report or {}).get(k), dict)}
    if refs or "eval_episodes" not in run_cfg:
        return refs
    suite = HELDOUT_SUITE if kind == "ppo" else run_cfg.get("eval_suite", HELDOUT_SUITE)
    try:
        cap, episodes = run_cfg.get("eval_max_steps"), int(run_cfg["eval_episodes"])
        if episodes > MAX_REFERENCE_EPISODES:
            problems.append(f"heuristic / oracle reference lines: settings.json's {episodes} held-out episodes are more than "
                            f"the page plays while a run trains ({MAX_REFERENCE_EPISODES}); they come with the final report.")
            return {}
        found = _baselines(str(suite), episodes, int(run_cfg.get("eval_seed", 0)), None if cap is None else int(cap))
    except Exception as e:  # a bad suite name or count in settings.json must not take the page down
        problems.append(f"heuristic / oracle reference lines: could not evaluate on settings.json's held-out suite ({e}).")
        return {}
    return {k: found[k] for k in REFERENCE_AGENTS}


def checkpoints(path: Path, curve: list[dict[str, Any]], report: Optional[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per held-out evaluation: its iteration, the checkpoint saved then (if any) and its metrics."""
    rows: list[dict[str, Any]] = []
    start_key = next((k for k in ("after_sft", "before") if isinstance((report or {}).get(k), dict)), None)
    if start_key:
        rows.append({"iteration": 0, "label": dict(BEFORE_AFTER_COLUMNS)[start_key], "checkpoint": None,
                     **{k: report[start_key].get(k) for k in METRIC_KEYS}})
    for r in curve:
        if not any(k.startswith(HELDOUT_PREFIX) for k in r):
            continue
        ck = f"checkpoint_iter_{r['iteration']:04d}"
        rows.append({"iteration": r["iteration"], "label": f"iteration {r['iteration']}",
                     "checkpoint": ck if (path / ck).is_dir() else None,
                     **{k: r.get(HELDOUT_PREFIX + k) for k in METRIC_KEYS}})
    return rows


def before_after(report: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The card: one column per agent, one row per metric, and the deltas of the RL agent."""
    if not report:
        return None
    cols = [(k, label) for k, label in BEFORE_AFTER_COLUMNS if isinstance(report.get(k), dict)]
    rows = []
    for key in METRIC_KEYS:
        vals = {k: report[k].get(key) for k, _ in cols}
        rl = vals.get("after_grpo")
        deltas = {base: (rl - vals[base]) if isinstance(rl, (int, float)) and isinstance(vals.get(base), (int, float)) else None
                  for base in ("before", "after_sft")}
        rows.append({"metric": key, "lower_is_better": key in LOWER_IS_BETTER, "values": vals, "deltas": deltas})
    return {"columns": [{"key": k, "label": label} for k, label in cols], "rows": rows, "meta": report.get("_meta")}


__all__ = ["BEFORE_AFTER_COLUMNS", "MAX_REFERENCE_EPISODES", "REFERENCE_AGENTS", "before_after", "checkpoints", "references"]
