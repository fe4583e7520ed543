"""Paired bootstrap intervals: an agent against a reference (the heuristic) on the same episodes.

Both agents play the same ``(scenario, seed)`` episodes, so the episode is the resampling unit:
each bootstrap draw resamples episode indices once and recomputes both agents' means on them.

| key (per metric)  | meaning                                                           |
|-------------------|-------------------------------------------------------------------|
| ``mean``          | the agent's mean over the episodes                                |
| ``ci``            | its 95% percentile interval                                       |
| ``ref_mean``      | the reference's mean on the same episodes                         |
| ``diff``          | agent − reference                                                 |
| ``diff_ci``       | 95% paired percentile interval of the difference                  |

Metrics are per-episode quantities: ``decision_accuracy`` (0/1, no report = wrong),
``brier`` ((p_go − y)², no report = 0.25), ``report_rate`` (0/1), ``mean_return`` and
``decision_utility`` (+2|c − ½| right, −2|c − ½| wrong, 0 without a report).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from drugenv.evaluation.metrics import (
    BRIER,
    DECISION_ACCURACY,
    DECISION_UTILITY,
    MEAN_RETURN,
    REPORT_RATE,
    EpisodeRecord,
)

PER_EPISODE: dict[str, Callable[[EpisodeRecord], float]] = {
    DECISION_ACCURACY: lambda r: float(r.correct),
    BRIER: lambda r: (r.p_go - (1.0 if r.correct_decision == "go" else 0.0)) ** 2,
    REPORT_RATE: lambda r: float(r.decision is not None),
    MEAN_RETURN: lambda r: float(r.episode_return),
    DECISION_UTILITY: lambda r: (2 * abs(r.confidence - 0.5)) * (1 if r.correct else -1) if r.decision else 0.0,
}
"""Per-episode terms whose mean is ``metrics.summarize``'s value of the same key (tested)."""


def paired_bootstrap(records: Sequence[EpisodeRecord], reference: Sequence[EpisodeRecord], *, n_boot: int = 2000,
                     seed: int = 0, level: float = 0.95) -> dict[str, dict[str, float | list[float]]]:
    """Per metric of ``PER_EPISODE``: the agent's mean with its interval and the paired difference to
    ``reference`` with its interval. ``records[i]`` and ``reference[i]`` must be the same episode."""
    if len(records) != len(reference) or not records:
        raise ValueError(f"paired_bootstrap needs two equal, non-empty lists ({len(records)} vs {len(reference)})")
    for a, b in zip(records, reference):
        if (a.scenario, a.seed) != (b.scenario, b.seed):
            raise ValueError(f"episode mismatch: {(a.scenario, a.seed)} vs {(b.scenario, b.seed)}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(records), size=(n_boot, len(records)))  # (B, N)
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    out: dict[str, dict[str, float | list[float]]] = {}
    for name, f in PER_EPISODE.items():
        x = np.array([f(r) for r in records])
        y = np.array([f(r) for r in reference])
        bx, by = x[idx].mean(axis=1), y[idx].mean(axis=1)
        out[name] = {
            "mean": float(x.mean()), "ci": [float(np.percentile(bx, lo)), float(np.percentile(bx, hi))],
            "ref_mean": float(y.mean()), "diff": float(x.mean() - y.mean()),
            "diff_ci": [float(np.percentile(bx - by, lo)), float(np.percentile(bx - by, hi))],
        }
    return out


__all__ = [
    "PER_EPISODE",
    "paired_bootstrap",
]
