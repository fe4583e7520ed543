import pytest

from drugenv.evaluation.metrics import EpisodeRecord, expected_calibration_error, summarize


def rec(decision, conf, correct="go", ret=1.0):
    return EpisodeRecord(scenario="s", seed=0, difficulty="easy", decision=decision, confidence=conf,
                         correct_decision=correct, episode_return=ret, terminal_reward=0.5, coverage=1.0,
                         credits_used=10, steps=5, violations=1, termination="report_submitted")


def test_ece_hand_computed():
    # bin 0.9: conf 0.9 x2, one right -> |0.5 - 0.9| weighted 2/4; bin 0.6: conf 0.6 x2 both right -> 0.4 weighted 2/4
    assert expected_calibration_error([0.9, 0.9, 0.6, 0.6], [True, False, True, True]) == pytest.approx(0.4)


def test_summary_hand_computed():
    s = summarize([rec("go", 0.8), rec("no_go", 0.6, correct="go"), rec(None, None)])
    assert s["decision_accuracy"] == pytest.approx(1 / 3)
    # p_go: 0.8, 0.4, 0.5 (no report); y = 1
    assert s["brier"] == pytest.approx(((0.2) ** 2 + 0.6 ** 2 + 0.5 ** 2) / 3)
    assert s["report_rate"] == pytest.approx(2 / 3)
    assert s["violation_rate"] == pytest.approx(3 / 15)
    assert s["decision_utility"] == pytest.approx((0.6 - 0.2 + 0) / 3)
