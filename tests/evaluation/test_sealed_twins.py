"""Sealed counterfactual twins: nothing but the evidence pairs a twin with its original.

A pair holds one go world and one no_go world. An agent that can tell which two episodes form a pair needs
to read only which of the two looks better, then give each pair one go. On the sealed suite, before v0.4, an
agent could pair them by the twins' shared episode id, their shared noise, or (once those were gone) by the
one episode of the same lockstep batch with the same gene, indication and tier (an audit's scripts, not
kept here, measured the heuristic's pair accuracy going from 0.75 to 0.92 that way on 300 pairs). The environment keeps the first two apart (``tests/simulator/test_integrity.py``),
``evaluate`` the third (``sealed_order``).
"""

from __future__ import annotations

import pytest

from drugenv.agents.base import Policy
from drugenv.agents.baselines import HeuristicPolicy
from drugenv.agents.belief import assess
from drugenv.evaluation.evaluate import evaluate, sealed_order
from drugenv.evaluation.metrics import twin_metrics
from drugenv.models import DrugTargetAction
from drugenv.scenarios import TWIN_SCENARIO, suite_episodes

SUITE = "procedural-test-twins"
SECRET = "a-benchmark-secret"


def test_a_sealed_run_plays_every_twin_after_every_original_in_an_order_only_the_secret_gives():
    eps = suite_episodes(SUITE, 600)
    order = sealed_order(eps, SECRET)
    assert sorted(order) == sorted(eps)
    assert [sc for sc, _ in order] == ["procedural"] * 300 + [TWIN_SCENARIO] * 300
    assert order == sealed_order(eps, SECRET)  # replays
    assert order != sealed_order(eps, "another-secret")
    assert [s for _, s in order[:300]] != [s for _, s in order[300:]]  # the twins' order does not follow the originals'
    suite = suite_episodes("procedural-test", 50)
    assert sealed_order(suite, SECRET) == suite  # no twins, nothing to keep apart


class PairingAgent(Policy):
    """The heuristic, plus what an agent can do with a pair it found by what it sees: a member of the lockstep batch
    with exactly one other member of the same gene, indication, tier and budget waits (free red flags) until both
    are ready to report, then the one the evidence favours says go and the other no_go."""

    name = "pairing"

    def __init__(self) -> None:
        self.heuristic, self.ready = HeuristicPolicy(), {}

    def reset(self, batch_size: int = 1, seeds=None) -> None:
        self.heuristic.reset(batch_size, seeds)
        self.ready = {}

    def act(self, observations):
        actions = list(self.heuristic.act(observations))
        key = [(o.target_gene, o.indication, o.metadata.get("difficulty"), o.credits_total) for o in observations]
        for i, obs in enumerate(observations):
            partners = [j for j in range(len(observations)) if j != i and key[j] == key[i]]
            if obs.done or len(partners) != 1 or actions[i].action_type.value != "submit_validation_report":
                continue
            j, self.ready[i] = partners[0], assess(obs.dossier).p_go
            if j not in self.ready:
                actions[i] = DrugTargetAction(action_type="flag_red_flag", parameters={"description": f"wait {obs.step_count}"})
            else:
                go = self.ready[i] > self.ready[j] or (self.ready[i] == self.ready[j] and i < j)
                actions[i] = DrugTargetAction(action_type="submit_validation_report", final_decision="go" if go else "no_go",
                                              confidence=0.9)
        return actions


@pytest.mark.parametrize("seal", [None, SECRET])
def test_an_agent_that_pairs_twins_by_what_it_sees_gains_nothing_on_a_sealed_run(seal):
    def pair_accuracy(policy):
        _, records = evaluate(policy, SUITE, 400, seed=0, progress=False, seal=seal)
        return twin_metrics(records)["pair_accuracy"]

    heuristic, pairing = pair_accuracy(HeuristicPolicy()), pair_accuracy(PairingAgent())
    if seal is None:  # public seeds, pairs side by side: the attack works (it has teeth)
        assert pairing > heuristic + 0.15, (pairing, heuristic)
    else:
        assert pairing <= heuristic + 0.02, (pairing, heuristic)
