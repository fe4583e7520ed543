"""A hand-written agent to score with ``drugenv eval``: five readouts, then a rule of thumb.

    drugenv eval --agent examples/safety_and_potency.py:SafetyAndPotency --suite procedural-test --episodes 300 --paired heuristic
    drugenv eval --agent examples/safety_and_potency.py:SafetyAndPotency --extra max_ic50_nm 300 --suite curated

It reads the toxicity panel, the off-target screen and an in-vitro assay, each after the evidence a
scientist gathers first (expression before safety, druggability before selectivity and potency:
the environment's soft prerequisites), then says go when the target looks safe, selective and potent
enough. The thresholds were picked on procedural-train episodes; the suite above scores held-out ones.

Copy it to start your own agent: ``act`` gets one observation per episode of the batch and returns
one action for each, in order (``drugenv.Policy``); ``--extra NAME VALUE`` sets a constructor argument.
It keeps no state between steps: the observation's dossier holds every finding so far, which is
also what lets ``examples/http_agent.py`` serve it one request at a time.
"""

from __future__ import annotations

from typing import Sequence

from drugenv import ACTION_TABLE, ActionType, DrugTargetAction, Policy, ValidationObservation

PLAN = (
    (ActionType.QUERY_EXPRESSION, {"database": "TCGA"}),
    (ActionType.TOXICITY_PANEL, {}),
    (ActionType.DRUGGABILITY_SCREEN, {"modality": "any"}),
    (ActionType.OFF_TARGET_SCREEN, {}),
    (ActionType.IN_VITRO_ASSAY, {}),
)


class SafetyAndPotency(Policy):
    name = "safety_and_potency"

    def __init__(self, max_toxicity: float = 0.7, min_selectivity: float = 10.0, max_ic50_nm: float = 500.0,
                 confidence: float = 0.8):
        self.max_toxicity, self.min_selectivity, self.max_ic50_nm = max_toxicity, min_selectivity, max_ic50_nm
        self.confidence = confidence

    def act(self, observations: Sequence[ValidationObservation]) -> list[DrugTargetAction]:
        return [self.act_one(obs) for obs in observations]

    def act_one(self, obs: ValidationObservation) -> DrugTargetAction:
        taken = len(obs.pipeline_history)
        if taken < len(PLAN):
            action_type, parameters = PLAN[taken]
            if ACTION_TABLE[action_type].cost < obs.credits_remaining:  # keep a credit for the report
                return DrugTargetAction(action_type=action_type, parameters=parameters, reasoning="the next planned readout")
        seen = {key: value for finding in obs.dossier.all_findings() for key, value in finding.data.items()}
        go = (seen.get("toxicity_risk", 1.0) < self.max_toxicity
              and seen.get("selectivity_ratio", 0.0) >= self.min_selectivity
              and seen.get("ic50_nm", float("inf")) < self.max_ic50_nm)
        return DrugTargetAction(action_type=ActionType.SUBMIT_VALIDATION_REPORT, final_decision="go" if go else "no_go",
                                confidence=self.confidence, reasoning=f"safety, selectivity and potency read {'go' if go else 'no-go'}")
