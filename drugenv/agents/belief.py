"""A sensible scientist's reading of the dossier: public go/no-go gates as log-odds.

This is what the heuristic agent believes, what the vector env exposes as features, and what the
curated-scenario tests use to show which evidence is decisive. It reads only the visible dossier.

Gates (``shared/research/targets.md`` §5), each a log-odds contribution (positive = go):

| gate          | evidence read                                                        | strong no-go when            |
|---------------|----------------------------------------------------------------------|------------------------------|
| tractability  | max of druggability score, best pocket, antibody route, recent drugs | best < 0.35                  |
| linkage       | log2FC / alteration frequency, CRISPR Chronos                        | Chronos ≥ −0.2 and no over-expression |
| safety        | toxicity risk, adverse knockout phenotype, body-weight loss          | risk ≥ 0.6                   |
| selectivity   | fold selectivity                                                     | < 10x                        |
| clinical      | precedent category                                                   | failed                       |
| translation   | IC50, TGI, responder fraction, biomarker r                           | IC50 ≥ 1 µM, TGI < 30%       |
| expert        | viability estimate                                                   | estimate < 0.5               |
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from drugenv.actions import ActionType as A
from drugenv.models import EvidenceDossier

GATES: tuple[str, ...] = ("tractability", "linkage", "safety", "selectivity", "clinical", "translation", "expert")


@dataclass
class Assessment:
    """Belief after reading a dossier."""

    log_odds: dict[str, float] = field(default_factory=lambda: {g: 0.0 for g in GATES})
    seen: dict[str, bool] = field(default_factory=lambda: {g: False for g in GATES})

    @property
    def logit(self) -> float:
        return sum(self.log_odds.values())

    @property
    def p_go(self) -> float:
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, self.logit))))

    def decision(self) -> tuple[str, float]:
        """(decision, confidence) that states the belief honestly."""
        p = self.p_go
        return ("go", p) if p >= 0.5 else ("no_go", 1.0 - p)


def _band(x: float, bands: list[tuple[float, float]], default: float) -> float:
    """First matching (threshold, value) with x >= threshold, for descending thresholds."""
    for thr, val in bands:
        if x >= thr:
            return val
    return default


def assess(dossier: EvidenceDossier) -> Assessment:
    """Read every finding of the dossier into gate log-odds (the latest reading of a readout wins)."""
    a = Assessment()
    tract: list[float] = []
    recent = False
    fc = alt = chronos = None
    tox = sel = ic50 = tgi = resp = r = expert = bwl = None
    ko = False
    precedent = None
    for f in dossier.all_findings():
        d = f.data
        t = f.action_type
        if t in (A.QUERY_EXPRESSION, A.DIFFERENTIAL_EXPRESSION):
            fc = d.get("log2fc_tumor_vs_normal", d.get("log2fc", fc))
            alt = d.get("alteration_frequency", alt)
        elif t == A.DRUGGABILITY_SCREEN and "druggability_score" in d:
            tract.append(d["druggability_score"])
        elif t == A.BINDING_SITE_ANALYSIS and "best_pocket_score" in d:
            tract.append(d["best_pocket_score"])
        elif t == A.LITERATURE_SEARCH and "recent_inhibitors_reported" in d:
            recent = recent or d["recent_inhibitors_reported"]
        elif t == A.CRISPR_KNOCKOUT and d.get("cell_lines") != "unaltered" and "chronos_score" in d:
            chronos = d["chronos_score"]
        elif t == A.TOXICITY_PANEL and "toxicity_risk" in d:
            tox, ko = d["toxicity_risk"], d.get("adverse_knockout_phenotype", False)
        elif t == A.OFF_TARGET_SCREEN and "selectivity_ratio" in d:
            sel = d["selectivity_ratio"]
        elif t == A.CLINICAL_TRIAL_LOOKUP and "clinical_precedent" in d:
            precedent = d["clinical_precedent"]
        elif t == A.IN_VITRO_ASSAY and "ic50_nm" in d:
            ic50 = d["ic50_nm"]
        elif t == A.IN_VIVO_MODEL and "tgi_pct" in d:
            tgi, bwl = d["tgi_pct"], d.get("body_weight_loss_pct")
        elif t == A.PATIENT_STRATIFICATION and "responder_fraction" in d:
            resp = d["responder_fraction"]
        elif t == A.BIOMARKER_CORRELATION and "pearson_r" in d:
            r = d["pearson_r"]
        elif t == A.REQUEST_EXPERT_REVIEW and "viability_estimate" in d:
            expert = d["viability_estimate"]

    if tract or recent:
        best = max(tract + ([0.8] if recent else []))
        a.log_odds["tractability"] = _band(best, [(0.6, 1.5), (0.45, 0.5), (0.35, -0.5)], -3.0)
        a.seen["tractability"] = True
    lk = 0.0
    if fc is not None:
        lk += _band(fc, [(2.0, 1.0), (1.0, 0.3), (0.5, 0.0)], -0.4)
    if alt is not None:
        lk += _band(alt, [(0.3, 0.3), (0.05, 0.0)], -0.5)
    if chronos is not None:
        lk += 1.2 if chronos <= -0.5 else (-1.0 if chronos >= -0.2 else 0.0)
    if fc is not None or alt is not None or chronos is not None:
        a.log_odds["linkage"], a.seen["linkage"] = lk, True
    if tox is not None or bwl is not None:
        s = 0.0
        if tox is not None:
            s += _band(tox, [(0.6, -3.0), (0.45, -0.6)], 0.5) - (0.5 if ko else 0.0)
        if bwl is not None and bwl >= 15:
            s -= 0.8
        a.log_odds["safety"], a.seen["safety"] = s, True
    if sel is not None:
        a.log_odds["selectivity"] = _band(sel, [(30, 0.7), (10, 0.0)], -2.0)
        a.seen["selectivity"] = True
    if precedent is not None:
        a.log_odds["clinical"] = {"approved": 1.5, "late_clinical": 0.8, "early_clinical": 0.3, "failed": -2.0, "none": 0.0}[precedent]
        a.seen["clinical"] = True
    tr = 0.0
    if ic50 is not None:
        tr += 0.8 if ic50 <= 100 else (-1.0 if ic50 >= 1000 else 0.0)
    if tgi is not None:
        tr += 0.8 if tgi >= 60 else (-1.0 if tgi < 30 else 0.0)
    if resp is not None:
        tr += 0.5 if resp >= 0.2 else (-0.8 if resp < 0.05 else 0.0)
    if r is not None:
        tr += 0.3 if r >= 0.4 else 0.0
    if any(v is not None for v in (ic50, tgi, resp, r)):
        a.log_odds["translation"], a.seen["translation"] = tr, True
    if expert is not None:
        a.log_odds["expert"], a.seen["expert"] = 3.0 * (expert - 0.5), True
    return a


__all__ = ["Assessment", "GATES", "assess"]
