import pytest

from drugenv.evaluation.metrics import METRIC_KEYS, EpisodeRecord, expected_calibration_error, summarize


def rec(decision, conf, correct="go", ret=1.0, terminal=0.5, coverage=1.0, credits=10, steps=5):
    return EpisodeRecord(scenario="s", seed=0, difficulty="easy", decision=decision, confidence=conf,
                         correct_decision=correct, episode_return=ret, terminal_reward=terminal, coverage=coverage,
                         credits_used=credits, steps=steps, violations=1, termination="report_submitted")


def test_ece_hand_computed():
    # bin 0.9: conf 0.9 x2, one right -> |0.5 - 0.9| weighted 2/4; bin 0.6: conf 0.6 x2 both right -> 0.4 weighted 2/4
    assert expected_calibration_error([0.9, 0.9, 0.6, 0.6], [True, False, True, True]) == pytest.approx(0.4)


def test_ece_without_a_report_is_nan_not_perfect():
    """0.0 ranked an agent that never reports as perfectly calibrated (ECE is lower-is-better)."""
    import math

    assert math.isnan(expected_calibration_error([], []))
    assert math.isnan(summarize([rec(None, None)])["ece"])


def test_reliability_counts_every_report_by_default():
    """A confidence below 0.5 is a valid report: the default bins start at 0, so the rows add up."""
    from drugenv.evaluation.metrics import reliability

    records = [rec("go", 0.3), rec("go", 1.0), rec("no_go", 0.5), rec("no_go", 0.0, correct="no_go")]
    rows = reliability(records)
    assert sum(r["reports"] for r in rows) == 4
    assert ("go", 0.0) in [(r["decision"], r["low"]) for r in rows]


def test_summary_hand_computed():
    """Every metric of the module table, on episodes whose values all differ (equal values would let a
    wrong aggregate, a min or a first record, give the right number)."""
    s = summarize([rec("go", 0.8, ret=2.0, terminal=1.5, coverage=1.0, credits=30, steps=10),
                   rec("no_go", 0.6, correct="go", ret=-1.0, terminal=-0.5, coverage=0.4, credits=12, steps=4),
                   rec(None, None, ret=0.5, terminal=0.0, coverage=0.1, credits=3, steps=1)])
    assert s["decision_accuracy"] == pytest.approx(1 / 3)
    # p_go: 0.8, 0.4, 0.5 (no report); y = 1
    assert s["brier"] == pytest.approx(((0.2) ** 2 + 0.6 ** 2 + 0.5 ** 2) / 3)
    assert s["report_rate"] == pytest.approx(2 / 3)
    assert s["violation_rate"] == pytest.approx(3 / 15)  # one violation in each episode, 15 steps in all
    assert s["decision_utility"] == pytest.approx((0.6 - 0.2 + 0) / 3)
    assert s["mean_return"] == pytest.approx(1.5 / 3)
    assert s["terminal_reward"] == pytest.approx(1.0 / 3)
    assert s["evidence_coverage"] == pytest.approx(1.5 / 3)
    assert s["credits_used"] == pytest.approx(45 / 3)
    assert s["steps"] == pytest.approx(15 / 3)
    # one report per bin of width 0.1: |1 - 0.8| and |0 - 0.6|, each weighted 1/2
    assert s["ece"] == pytest.approx((0.2 + 0.6) / 2)
    assert set(s) == set(METRIC_KEYS)


def test_reliability_bins_each_decision_and_closes_the_last_bin():
    from drugenv.evaluation.metrics import reliability

    def rec(decision, confidence, truth):
        return EpisodeRecord(scenario="s", seed=0, difficulty="easy", decision=decision, confidence=confidence,
                             correct_decision=truth, episode_return=0.0, terminal_reward=0.0, coverage=0.0,
                             credits_used=0, steps=1, violations=0, termination="report")

    records = [rec("no_go", 1.0, "no_go"), rec("no_go", 0.996, "go"), rec("no_go", 0.99, "no_go"),
               rec("go", 0.6, "go"), rec("go", 0.65, "no_go"), rec(None, None, "go")]
    rows = reliability(records, edges=(0.5, 0.7, 0.995, 1.0))
    assert [(r["decision"], r["low"], r["reports"]) for r in rows] == [("go", 0.5, 2), ("no_go", 0.7, 1), ("no_go", 0.995, 2)]
    assert rows[0]["accuracy"] == 0.5 and rows[0]["confidence"] == pytest.approx(0.625)
    assert rows[2]["accuracy"] == 0.5 and rows[2]["confidence"] == pytest.approx(0.998)


def test_belief_agreement_sorts_reports_by_the_public_belief():
    """Rows per belief decision and band; counts of each agent decision, how often the agent followed
    the belief and how often it was right; unreported episodes and those without a belief are left out."""
    from drugenv.evaluation.metrics import belief_agreement

    def rec(decision, truth, belief, belief_conf):
        return EpisodeRecord(scenario="s", seed=0, difficulty="easy", decision=decision, confidence=0.9,
                             correct_decision=truth, episode_return=0.0, terminal_reward=0.0, coverage=0.0,
                             credits_used=0, steps=1, violations=0, termination="report",
                             belief_decision=belief, belief_confidence=belief_conf)

    records = [rec("no_go", "go", "go", 0.98), rec("go", "go", "go", 1.0), rec("go", "go", "go", 0.8),
               rec("no_go", "no_go", "no_go", 0.95), rec(None, "go", "go", 0.99), rec("go", "go", None, None)]
    rows = belief_agreement(records)
    assert [(r["belief"], r["low"], r["reports"], r["go"], r["no_go"]) for r in rows] == [
        ("go", 0.5, 1, 1, 0), ("go", 0.97, 2, 1, 1), ("no_go", 0.9, 1, 0, 1)]
    assert rows[1]["followed"] == 0.5 and rows[1]["accuracy"] == 0.5 and rows[2]["followed"] == 1.0
