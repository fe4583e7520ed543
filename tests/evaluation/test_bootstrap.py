import pytest

from drugenv.evaluation.bootstrap import paired_bootstrap
from drugenv.evaluation.metrics import EpisodeRecord


def _rec(seed, decision, conf, truth="go", ret=1.0):
    return EpisodeRecord(scenario="procedural", seed=seed, difficulty="easy", decision=decision, confidence=conf,
                         correct_decision=truth, episode_return=ret, terminal_reward=0.0, coverage=1.0,
                         credits_used=10, steps=5, violations=0, termination="report_submitted")


def test_paired_bootstrap_means_and_intervals():
    ref = [_rec(i, "go", 0.9) for i in range(50)]
    same = paired_bootstrap(ref, ref, n_boot=500)
    assert same["decision_accuracy"]["mean"] == 1.0 and same["decision_accuracy"]["diff_ci"] == [0.0, 0.0]
    worse = [_rec(i, "no_go" if i % 2 else "go", 0.9) for i in range(50)]
    out = paired_bootstrap(worse, ref, n_boot=500)
    acc = out["decision_accuracy"]
    assert acc["mean"] == 0.5 and acc["ref_mean"] == 1.0 and acc["diff"] == -0.5
    assert acc["ci"][0] < 0.5 < acc["ci"][1] and acc["diff_ci"][1] < 0
    assert out["brier"]["mean"] == pytest.approx(0.5 * 0.01 + 0.5 * 0.81)
    silent = [_rec(i, None, None) for i in range(50)]
    assert paired_bootstrap(silent, ref, n_boot=10)["brier"]["mean"] == 0.25
    assert paired_bootstrap(silent, ref, n_boot=10)["report_rate"]["mean"] == 0.0


def test_paired_bootstrap_needs_the_same_episodes():
    with pytest.raises(ValueError, match="mismatch"):
        paired_bootstrap([_rec(1, "go", 0.9)], [_rec(2, "go", 0.9)])
    with pytest.raises(ValueError, match="equal"):
        paired_bootstrap([], [])


def test_bootstrap_means_are_the_summary_metrics():
    """The interval's centre is the number the table prints next to it (``metrics.summarize``)."""
    from drugenv.evaluation.bootstrap import PER_EPISODE
    from drugenv.evaluation.metrics import summarize

    recs = [_rec(i, [None, "go", "no_go"][i % 3], [None, 0.8, 0.65][i % 3], truth="go" if i % 4 else "no_go", ret=0.1 * i - 1)
            for i in range(30)]
    ref = [_rec(i, "go", 0.9) for i in range(30)]
    out, summary = paired_bootstrap(recs, ref, n_boot=10), summarize(recs)
    for k in PER_EPISODE:
        assert out[k]["mean"] == pytest.approx(summary[k]), k
