"""Malformed actions give clear violations (through step) or validation errors (through the model), never a crash."""

import pytest
from pydantic import ValidationError

from drugenv.models import DrugTargetAction
from drugenv.simulator.environment import DrugTargetEnvironment

BAD = [
    ({"action_type": "teleport"}, "not an action"),
    ({"action_type": "query_expression", "parameters": {"database": "GTEx", "colour": "red"}}, "Extra inputs"),
    ({"action_type": "query_expression", "parameters": {"database": 7}}, "database"),
    ({"action_type": "submit_validation_report", "final_decision": "go", "confidence": 1.7}, "confidence"),
    ({"action_type": "submit_validation_report", "final_decision": "maybe", "confidence": 0.5}, "final_decision"),
    ({"parameters": {}}, "action_type"),
    ({"action_type": "query_expression", "reasoning": 42}, "reasoning"),
    ({"action_type": "flag_red_flag"}, "description"),
    ({"action_type": "query_expression", "parameters": "GTEx"}, "parameters"),
    ([1, 2, 3], "object"),
    (None, "object"),
]


@pytest.mark.parametrize("raw,needle", BAD)
def test_step_turns_bad_actions_into_violations(raw, needle):
    env = DrugTargetEnvironment()
    obs0 = env.reset(seed=1, scenario="egfr_nsclc_viable")
    obs = env.step(raw)
    assert [v.rule for v in obs.rule_violations] == ["invalid_action"]
    assert needle in obs.rule_violations[0].message
    assert obs.credits_remaining == obs0.credits_remaining and not obs.done and obs.reward < 0
    ok = env.step({"action_type": "query_expression"})  # the episode goes on
    assert ok.latest_output.status == "ok"


def test_missing_decision_is_a_violation():
    env = DrugTargetEnvironment()
    env.reset(seed=1, scenario="egfr_nsclc_viable")
    obs = env.step({"action_type": "submit_validation_report", "final_decision": "go"})
    assert [v.rule for v in obs.rule_violations] == ["missing_decision"] and "confidence" in obs.rule_violations[0].message


@pytest.mark.parametrize("raw", [r for r, _ in BAD[:5]])
def test_model_raises_validation_error(raw):
    with pytest.raises(ValidationError):
        DrugTargetAction.model_validate(raw)


def test_step_before_reset_raises_typed_error():
    from drugenv.errors import EnvNotResetError

    with pytest.raises(EnvNotResetError, match="reset"):
        DrugTargetEnvironment().step({"action_type": "query_expression"})
