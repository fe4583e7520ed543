"""An agent that asks the expert panel and nothing else: what two credits of evidence tell.

    drugenv eval --agent examples/expert_panel.py:ExpertPanel --suite procedural-test --episodes 300 --paired heuristic
    drugenv eval --agent examples/expert_panel.py:ExpertPanel --suite procedural-test --difficulty very_hard \\
        --episodes 300 --paired heuristic

It runs one literature search (a credit: the panel's soft prerequisite is some evidence before it), asks
the panel (a credit), and reports what the panel leans to: go when its ``viability_estimate`` is 0.5 or
more, at a confidence of the estimate's distance from a coin's (``max(estimate, 1 - estimate)``). The
panel reads the target's overall viability through noise, not the five gates, so no misleading readout
reaches it and the harder tiers weaken it little: it is the strongest single readout in every tier,
yet falls short of an investigation of the gates (``docs/agents.md``, "The verdict", quotes the
committed records of both commands).
"""

from __future__ import annotations

from typing import Sequence

from drugenv import ActionType, DrugTargetAction, Policy, ValidationObservation


class ExpertPanel(Policy):
    name = "expert_panel"

    def act(self, observations: Sequence[ValidationObservation]) -> list[DrugTargetAction]:
        return [self.act_one(obs) for obs in observations]

    def act_one(self, obs: ValidationObservation) -> DrugTargetAction:
        asked = {step.action_type for step in obs.pipeline_history}
        if ActionType.LITERATURE_SEARCH.value not in asked:
            return DrugTargetAction(action_type=ActionType.LITERATURE_SEARCH, parameters={"since_year": 2013},
                                    reasoning="some evidence before the panel")
        if ActionType.REQUEST_EXPERT_REVIEW.value not in asked:
            return DrugTargetAction(action_type=ActionType.REQUEST_EXPERT_REVIEW, reasoning="ask the panel")
        estimate = obs.latest_output.data.get("viability_estimate") if obs.latest_output else None
        if not isinstance(estimate, (int, float)):  # a refused review (out of credits): no lean to report
            estimate = 0.5
        estimate = min(max(float(estimate), 0.0), 1.0)
        return DrugTargetAction(action_type=ActionType.SUBMIT_VALIDATION_REPORT,
                                final_decision="go" if estimate >= 0.5 else "no_go",
                                confidence=max(estimate, 1.0 - estimate), reasoning="the expert panel's lean")
