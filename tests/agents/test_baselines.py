"""The baselines' claimed properties, measured on fixed seeds."""

import pytest

from drugenv.agents.baselines import BASELINES, ExpressionOnlyPolicy, HeuristicPolicy, OraclePolicy, RandomPolicy
from drugenv.evaluation.evaluate import by_scenario, evaluate
from drugenv.evaluation.metrics import BRIER, DECISION_ACCURACY, REPORT_RATE, VIOLATION_RATE


@pytest.mark.parametrize("suite,n", [("curated", 25), ("procedural-test", 60)])
def test_oracle_is_right(suite, n):
    summary, _ = evaluate(OraclePolicy(), suite, n, 0, progress=False)
    assert summary[DECISION_ACCURACY] >= 0.95 and summary[VIOLATION_RATE] == 0.0


@pytest.mark.parametrize("suite,n", [("curated", 25), ("procedural-test", 60)])
def test_heuristic_beats_random(suite, n):
    h, _ = evaluate(HeuristicPolicy(), suite, n, 0, progress=False)
    r, _ = evaluate(RandomPolicy(seed=0), suite, n, 0, progress=False)
    assert h[DECISION_ACCURACY] >= r[DECISION_ACCURACY] + 0.15
    assert h[BRIER] <= r[BRIER] - 0.05
    assert h[REPORT_RATE] == 1.0


def test_expression_only_fails_cd33():
    _, recs = evaluate(ExpressionOnlyPolicy(), "curated", 25, 0, progress=False)
    assert by_scenario(recs)["cd33_aml_misleading"][DECISION_ACCURACY] <= 0.2


def test_random_policy_parameters_are_valid():
    import numpy as np

    from drugenv.actions import EVIDENCE_ACTIONS, parse_parameters

    rng = np.random.default_rng(0)
    for a in EVIDENCE_ACTIONS:
        for _ in range(5):
            parse_parameters(a, RandomPolicy.random_parameters(a, rng))


def test_registry_names():
    assert set(BASELINES) == {"random", "heuristic", "expression_only", "oracle"}


def test_belief_kept_gate_by_gate_equals_a_fresh_assessment():
    """``Belief.read`` (the fold of ``assess``, the evidence table and the vector env) recomputes only the
    gate a finding informs, and none when the readings stay as they were (a repeated query); after every
    finding its belief must equal ``assessment_of`` the readings."""
    from drugenv.agents.belief import Belief, assessment_of
    from drugenv.simulator.environment import DrugTargetEnvironment

    for seed in range(12):
        env, policy = DrugTargetEnvironment(), RandomPolicy(seed=seed, submit_prob=0.0)
        obs = env.reset(seed=seed, scenario="procedural")
        while not obs.done:
            obs = env.step(policy.act([obs])[0])
        belief = Belief.start()
        for finding in obs.dossier.all_findings():
            belief.read(finding)
            assert belief.assessment == assessment_of(belief.readings)


def test_a_policy_without_act_cannot_be_built():
    # ``act`` sat indented inside ``brief``: Policy had no abstract method and such a policy failed only when played.
    from drugenv.agents.base import Policy

    class NoAct(Policy):
        pass

    assert Policy.__abstractmethods__ == frozenset({"act"})
    with pytest.raises(TypeError, match="act"):
        NoAct()


@pytest.mark.parametrize("reading", [{"sel": 0.0}, {"ic50": 0.0}, {"sel": 1e-9, "ic50": 1e-9}])
def test_belief_takes_readouts_of_zero(reading):
    """Readouts are rounded to one decimal: a selectivity or an IC50 under 0.05 reads 0.0, where math.log
    raised (ValueError, ZeroDivisionError) and stopped the heuristic mid-episode."""
    from drugenv.agents import belief

    out = belief.assessment_of({**belief.start_readings(), **reading})
    if "sel" in reading:  # no selectivity at all: the gate fails
        assert out.seen["selectivity"] and out.pass_prob["selectivity"] == pytest.approx(0.005)
    if "ic50" in reading:  # an IC50 near 0 nM is as potent as it gets: the gate passes
        assert out.seen["translation"] and out.pass_prob["translation"] == pytest.approx(0.995)
    assert 0.0 <= out.decision()[1] <= 1.0
