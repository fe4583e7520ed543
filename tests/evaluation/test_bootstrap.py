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


def _varied(n=200):
    """A reference right on a varied half of the episodes, and an agent that is right on the same ones and on
    10 more: its lead is certain episode by episode, and only a paired interval sees it."""
    ref = [_rec(i, "go" if i % 2 else "no_go", 0.9) for i in range(n)]
    agent = [_rec(i, "go" if (i % 2 or i % 20 == 0) else "no_go", 0.9) for i in range(n)]
    return agent, ref


def test_the_difference_is_paired_episode_by_episode():
    agent, ref = _varied()
    acc = paired_bootstrap(agent, ref, n_boot=2000)["decision_accuracy"]
    assert acc["diff"] == pytest.approx(10 / 200)
    # each resample's difference is (agent lead episodes drawn) / N: never negative, whatever the draw
    assert acc["diff_ci"][0] > 0 and acc["diff_ci"][1] < 0.1
    assert paired_bootstrap(ref, ref, n_boot=500)["decision_accuracy"]["diff_ci"] == [0.0, 0.0]


def test_the_level_sets_the_width_and_the_seed_repeats_the_draws():
    agent, ref = _varied()
    wide, narrow = (paired_bootstrap(agent, ref, level=lv)["decision_accuracy"]["ci"] for lv in (0.95, 0.5))
    assert wide[0] < narrow[0] < narrow[1] < wide[1]
    # a 95% interval of a mean of 0/1 outcomes spans about 2 x 1.96 standard errors
    p = 110 / 200
    assert wide[1] - wide[0] == pytest.approx(2 * 1.96 * (p * (1 - p) / 200) ** 0.5, rel=0.15)
    assert paired_bootstrap(agent, ref, seed=1) == paired_bootstrap(agent, ref, seed=1)
    assert paired_bootstrap(agent, ref, seed=1) != paired_bootstrap(agent, ref, seed=2)


def test_lists_of_other_lengths_are_refused_even_when_they_share_a_start():
    agent, ref = _varied(10)
    with pytest.raises(ValueError, match="equal"):
        paired_bootstrap(agent[:5], ref)
    with pytest.raises(ValueError, match="equal"):
        paired_bootstrap(agent, ref[:5])


def test_no_interval_for_a_group_too_small_to_hold_one():
    """Four episodes that agree gave a "95%" interval of zero width; below ``MIN_INTERVAL_EPISODES`` the means
    and the difference come without intervals, at it and above with them."""
    from drugenv.evaluation.bootstrap import MIN_INTERVAL_EPISODES

    small = MIN_INTERVAL_EPISODES - 1
    mine = [_rec(i, "go", 0.7, ret=float(i)) for i in range(MIN_INTERVAL_EPISODES)]
    ref = [_rec(i, "go", 0.9) for i in range(MIN_INTERVAL_EPISODES)]
    few = paired_bootstrap(mine[:small], ref[:small], n_boot=100)["decision_utility"]
    assert few["ci"] is None and few["diff_ci"] is None
    assert few["mean"] == pytest.approx(0.4) and few["diff"] == pytest.approx(-0.4)
    enough = paired_bootstrap(mine, ref, n_boot=100)["mean_return"]
    assert enough["ci"][0] < enough["mean"] < enough["ci"][1] and enough["diff_ci"][0] < enough["diff"] < enough["diff_ci"][1]
