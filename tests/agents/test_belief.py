"""The public belief (``agents.belief.assess``) read off single findings: the heuristic decides by it, the
prompt's evidence table prints it, the vector env encodes it and the SFT teacher reports it, so each
reading's weight is pinned here by value."""

import math

import pytest

from drugenv.actions import ActionType as A
from drugenv.agents.belief import assess
from drugenv.models import EvidenceDossier, Finding


def _belief(*findings):
    return assess(EvidenceDossier(experimental=[Finding(step=i + 1, action_type=a, summary="", data=d)
                                                for i, (a, d) in enumerate(findings)]))


def _logit(p):
    return math.log(p / (1.0 - p))


@pytest.mark.parametrize("estimate,log_odds", [(0.9, 1.2), (0.5, 0.0), (0.2, -0.9)])
def test_an_expert_estimate_moves_the_log_odds_of_go_by_three_times_its_lean(estimate, log_odds):
    empty, b = _belief(), _belief((A.REQUEST_EXPERT_REVIEW, {"viability_estimate": estimate}))
    assert b.seen["expert"] and not empty.seen["expert"]
    assert b.soft_log_odds["expert"] == pytest.approx(log_odds)
    assert _logit(b.p_go) - _logit(empty.p_go) == pytest.approx(log_odds)


@pytest.mark.parametrize("precedent,log_odds", [("approved", 0.5), ("late_clinical", 0.3), ("early_clinical", 0.1),
                                                ("none", 0.0), ("failed", -0.7)])
def test_clinical_precedent_is_soft_evidence_and_a_failure_counts_against(precedent, log_odds):
    empty, b = _belief(), _belief((A.CLINICAL_TRIAL_LOOKUP, {"clinical_precedent": precedent}))
    assert b.seen["clinical"] and b.soft_log_odds["clinical"] == pytest.approx(log_odds)
    assert _logit(b.p_go) - _logit(empty.p_go) == pytest.approx(log_odds)


def test_an_adverse_knockout_phenotype_takes_three_tenths_off_safety():
    clean = _belief((A.TOXICITY_PANEL, {"toxicity_risk": 0.5, "adverse_knockout_phenotype": False}))
    adverse = _belief((A.TOXICITY_PANEL, {"toxicity_risk": 0.5, "adverse_knockout_phenotype": True}))
    assert 0.2 < clean.pass_prob["safety"] < 0.995  # inside the clip, where the factor shows
    assert adverse.pass_prob["safety"] == pytest.approx(0.7 * clean.pass_prob["safety"])
    assert adverse.p_go < clean.p_go


def test_over_expression_without_an_alteration_reading_is_a_driver_at_most_at_0_8():
    """A strong fold change alone leaves the alteration unknown: the driver route gets 0.8 of its chance;
    with a frequent alteration read beside it, the route is all but certain."""
    alone = _belief((A.QUERY_EXPRESSION, {"log2fc_tumor_vs_normal": 6.0}))
    altered = _belief((A.QUERY_EXPRESSION, {"log2fc_tumor_vs_normal": 6.0, "alteration_frequency": 0.9}))
    assert alone.pass_prob["linkage"] == pytest.approx(0.8, abs=1e-3)
    assert altered.pass_prob["linkage"] > 0.99
