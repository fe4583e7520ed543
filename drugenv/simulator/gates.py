"""The public go/no-go gates (``shared/research/targets.md`` §5): the one home of their thresholds.

The gates are public knowledge, not hidden truth: the procedural generator labels scenarios with
them, the curated scenarios are checked against them, and the heuristic agent's belief
(``drugenv.agents.belief``) reads its readouts against the same thresholds. So this module imports
nothing from the hidden-truth module ``drugenv.simulator.latent``; it works on a plain dict of
``TargetProfile`` field values (units as in ``TargetProfile``).

| gate       | readouts                                             | passes when                                            |
|------------|------------------------------------------------------|--------------------------------------------------------|
| tractable  | orthosteric druggability, best allosteric pocket;    | best pocket >= ``POCKET_MIN`` (0.5), or an antibody    |
|            | antibody access; recent clinical-grade inhibitors    | route, or recent clinical-grade inhibitors             |
| linkage    | DepMap Chronos in altered lines; tumour-vs-normal    | Chronos <= ``DEPENDENCY_MAX`` (-0.5), or log2FC >=     |
|            | log2FC and fraction of patients altered              | ``LOG2FC_MIN`` (2.0) with a fraction altered >=        |
|            |                                                      | ``ALTERATION_MIN`` (0.3)                               |
| safe       | on-target toxicity risk in vital tissues             | risk < ``TOXICITY_MAX`` (0.6)                          |
| selective  | fold selectivity over the nearest off-target         | ratio >= ``SELECTIVITY_MIN`` (10x)                     |
| translates | in-vivo tumour growth inhibition; in-vitro cell IC50 | TGI >= ``TGI_MIN`` (40%), or IC50 <= ``IC50_MAX`` (300 |
|            |                                                      | nM)                                                    |

The gates are conjunctive (targets.md §5: "any hard fail = NO-GO; all pass = GO"). The thresholds
are the simulator's binary reading of §5's ranges, taken at or below their lenient end:
``POCKET_MIN`` is the low end of §5's 0.5-0.7, ``SELECTIVITY_MIN`` is §5's mutant/WT bound (not its
30-100x over paralogs), ``TGI_MIN`` is below §5's 60%, ``DEPENDENCY_MAX`` is §4's "dependent" cut.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping

# --- thresholds --------------------------------------------------------------------------------
POCKET_MIN = 0.5
"""Pocket druggability score (0-1, fpocket-like) at or above which a pocket is druggable."""
DEPENDENCY_MAX = -0.5
"""DepMap Chronos score (0 = no effect, -1 = common-essential median) at or below which cells depend on the target."""
LOG2FC_MIN = 2.0
"""Tumour-vs-normal overexpression, log2 fold change, from which overexpression can carry linkage."""
ALTERATION_MIN = 0.3
"""Fraction of patients altered (0-1) that overexpression-based linkage also needs."""
TOXICITY_MAX = 0.6
"""On-target toxicity risk (0-1) below which the safety window holds (the bound itself fails)."""
SELECTIVITY_MIN = 10.0
"""Fold selectivity over the nearest off-target at or above which the compound is selective."""
TGI_MIN = 40.0
"""In-vivo tumour growth inhibition, %, at or above which efficacy translates."""
IC50_MAX = 300.0
"""Tool-compound cell IC50, nM, at or below which efficacy translates."""

# --- viability (a graded score beside the binary verdict) ---------------------------------------
STRONG_POCKET = 0.7
"""Pocket score (0-1) at which the tractability term saturates (targets.md §4: > 0.7 strong)."""
FULL_SELECTIVITY = 100.0
"""Fold selectivity at which the selectivity term saturates (targets.md §5: 30-100x)."""
NO_GO_VIABILITY_MAX = 0.45
"""A no_go's viability (0-1) is capped here, so viability never contradicts the verdict."""
GO_VIABILITY_MIN = 0.55
"""A go's viability (0-1) is floored here."""

GATE_NAMES: tuple[str, ...] = ("tractable", "linkage", "safe", "selective", "translates")
"""The five hard gates, in the order of the table above."""

Decision = Literal["go", "no_go"]


def best_pocket(fields: Mapping[str, Any]) -> float:
    """The best small-molecule pocket score (0-1): orthosteric or allosteric."""
    return max(fields["druggability_score"], fields.get("allosteric_pocket_score", 0.0))


def gate_results(fields: Mapping[str, Any]) -> dict[str, bool]:
    """Whether each gate passes on these (true) profile values, in ``GATE_NAMES`` order."""
    f = fields
    return {
        "tractable": best_pocket(f) >= POCKET_MIN or f.get("antibody_accessible", False)
        or f.get("recent_inhibitor_evidence", False),
        "linkage": f["dependency_score"] <= DEPENDENCY_MAX
        or (f["disease_overexpression_log2fc"] >= LOG2FC_MIN and f["alteration_frequency"] >= ALTERATION_MIN),
        "safe": f["toxicity_risk"] < TOXICITY_MAX,
        "selective": f["selectivity_ratio"] >= SELECTIVITY_MIN,
        "translates": f["in_vivo_tgi_pct"] >= TGI_MIN or f["in_vitro_ic50_nm"] <= IC50_MAX,
    }


def decide(fields: Mapping[str, Any]) -> tuple[Decision, float]:
    """The gates applied to true profile values: (decision, viability in [0, 1], 3 decimals).

    go iff every gate passes. Viability weighs tractability 0.25, dependency 0.2, safety 0.2,
    selectivity 0.15 and in-vivo efficacy 0.2, each saturating at 1, then is clamped to the
    verdict's side (``NO_GO_VIABILITY_MAX`` / ``GO_VIABILITY_MIN``).
    """
    p = fields
    pocket = best_pocket(p)
    viability = (
        0.25 * min(1.0, pocket / STRONG_POCKET if not p.get("antibody_accessible") else 1.0)
        + 0.2 * min(1.0, max(0.0, -p["dependency_score"]))
        + 0.2 * (1.0 - p["toxicity_risk"])
        + 0.15 * min(1.0, p["selectivity_ratio"] / FULL_SELECTIVITY)
        + 0.2 * min(1.0, max(0.0, p["in_vivo_tgi_pct"] / 100.0))
    )
    decision: Decision = "go" if all(gate_results(p).values()) else "no_go"
    if decision == "no_go":
        viability = min(viability, NO_GO_VIABILITY_MAX)
    else:
        viability = max(viability, GO_VIABILITY_MIN)
    return decision, round(float(viability), 3)


__all__ = [
    "ALTERATION_MIN",
    "DEPENDENCY_MAX",
    "Decision",
    "FULL_SELECTIVITY",
    "GATE_NAMES",
    "GO_VIABILITY_MIN",
    "IC50_MAX",
    "LOG2FC_MIN",
    "NO_GO_VIABILITY_MAX",
    "POCKET_MIN",
    "SELECTIVITY_MIN",
    "STRONG_POCKET",
    "TGI_MIN",
    "TOXICITY_MAX",
    "best_pocket",
    "decide",
    "gate_results",
]
