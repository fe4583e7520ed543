"""The held-out counterfactual-twins suite: adjacent (original, twin) pairs of procedural-test seeds."""

import pytest

from drugenv.actions import ActionType
from drugenv.models import DrugTargetAction
from drugenv.scenarios import SUITES, TWIN_SCENARIO, make_scenario, suite_episodes
from drugenv.scenarios.procedural import generate_scenario, procedural_test_seeds, split_of, twin_of
from drugenv.simulator.environment import DrugTargetEnvironment

SUITE = "procedural-test-twins"


def test_suite_is_listed_and_lays_out_adjacent_pairs_of_test_seeds():
    assert SUITE in SUITES
    eps = suite_episodes(SUITE, 10, seed=7)
    assert len(eps) == 10
    originals, twins = eps[0::2], eps[1::2]
    assert [sc for sc, _ in originals] == ["procedural"] * 5 and [sc for sc, _ in twins] == [TWIN_SCENARIO] * 5
    assert [s for _, s in originals] == [s for _, s in twins] == procedural_test_seeds(5, start=7)
    assert all(split_of(s) == "test" for _, s in eps)
    # The originals are exactly the procedural-test suite's episodes for the same seeds.
    assert originals == suite_episodes("procedural-test", 5, seed=7)


def test_suite_is_deterministic_and_an_odd_count_ends_with_one_unpaired_original():
    assert suite_episodes(SUITE, 8, seed=3) == suite_episodes(SUITE, 8, seed=3)
    assert suite_episodes(SUITE, 8, seed=3) != suite_episodes(SUITE, 8, seed=4)
    odd = suite_episodes(SUITE, 5, seed=3)
    assert odd[:4] == suite_episodes(SUITE, 4, seed=3) and odd[4][0] == "procedural" and len(odd) == 5
    assert suite_episodes(SUITE, 0) == []


def test_twin_request_resolves_to_the_counterfactual_twin():
    for _, s in suite_episodes(SUITE, 12, seed=0)[0::2]:
        orig, twin = make_scenario("procedural", s), make_scenario(TWIN_SCENARIO, s)
        assert twin == twin_of(s) == generate_scenario(s, twin=True) and twin_of(orig) == twin
        shared = lambda sc: (sc.profile.gene, sc.profile.indication, sc.difficulty, sc.credits)  # noqa: E731
        assert shared(orig) == shared(twin)
        assert {orig.profile.correct_decision, twin.profile.correct_decision} == {"go", "no_go"}
        assert twin.scenario_id == orig.scenario_id + "-twin"
    assert make_scenario(TWIN_SCENARIO, 1_000_000, "hard").difficulty == "hard"


@pytest.mark.parametrize("start", [0, 40])
def test_env_reset_plays_both_members_with_opposite_outcomes(start):
    """Played through the env (reset with the suite's requests), each pair shows the same gene and
    indication and the outcome channel reports opposite correct decisions."""
    eps = suite_episodes(SUITE, 8, seed=start)
    outcomes = []
    for sc, seed in eps:
        env = DrugTargetEnvironment()
        obs = env.reset(seed=seed, scenario=sc)
        obs2 = env.step(DrugTargetAction(action_type=ActionType.SUBMIT_VALIDATION_REPORT, final_decision="go", confidence=0.6))
        assert obs2.done
        outcomes.append((obs.target_gene, obs.indication, env.outcome()))
    for (g1, i1, o1), (g2, i2, o2) in zip(outcomes[0::2], outcomes[1::2]):
        assert (g1, i1, o1.difficulty) == (g2, i2, o2.difficulty)
        assert {o1.correct_decision, o2.correct_decision} == {"go", "no_go"}
        assert o1.decision_correct != o2.decision_correct  # "go" for both: exactly one of each pair is right
