"""What the simulator builds without validation (``drugenv.models.trusted``) equals what validation builds.

The hot path constructs observations, findings, history entries, outputs and violations from values
it made itself; these tests pin that each one is exactly the model pydantic would have validated:
same values, same types, fields in declaration order (serialization follows it), and independent
containers (a caller mutating one observation cannot reach the environment or another observation).
"""

from __future__ import annotations

import math

import pytest
from pydantic import BaseModel

from drugenv.actions import ActionType, NetworkParams
from drugenv.agents.baselines import RandomPolicy
from drugenv.models import DrugTargetAction, ValidationObservation, parameters_key, trusted
from drugenv.simulator.environment import DrugTargetEnvironment


def _assert_like_validated(model: BaseModel) -> None:
    cls = type(model)
    assert list(model.__dict__) == list(cls.model_fields), f"{cls.__name__} fields out of declaration order"
    again = cls.model_validate(model.model_dump())
    assert again == model
    assert again.model_dump_json() == model.model_dump_json()
    for value in model.__dict__.values():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, BaseModel):
                _assert_like_validated(item)


def _episodes(n: int):
    env, policy = DrugTargetEnvironment(), RandomPolicy(seed=3, submit_prob=0.05)
    for ep in range(n):
        obs = env.reset(seed=ep, scenario=None if ep % 3 else "kras_pdac_borderline")
        yield env, obs
        while not obs.done:
            obs = env.step(policy.act([obs])[0] if ep % 4 else {"action_type": "flag_red_flag",
                                                                "parameters": {"description": "x"}})
            yield env, obs
        yield env, env.step({"action_type": "literature_search"})  # a step after the end


def test_every_observation_and_state_equals_its_validated_twin():
    for env, obs in _episodes(12):
        _assert_like_validated(obs)
        _assert_like_validated(env.state)


def test_handed_out_observations_do_not_share_containers():
    env = DrugTargetEnvironment()
    first = env.reset(seed=5)
    second = env.step(DrugTargetAction(action_type="query_expression"))
    first.legal_actions.clear()
    first.metadata["x"] = 1
    second.dossier.expression.clear()
    second.pipeline_history.clear()
    second.step_reward_breakdown.clear()
    third = env.step(DrugTargetAction(action_type="toxicity_panel"))
    assert third.legal_actions and "x" not in third.metadata
    assert len(third.dossier.expression) == 1 and len(third.pipeline_history) == 2
    assert third.step_reward_breakdown


def test_trusted_is_the_validated_model():
    built = trusted(DrugTargetAction, action_type=ActionType.QUERY_EXPRESSION, parameters={"database": "TCGA"},
                    reasoning="", final_decision=None, confidence=None)
    assert built == DrugTargetAction(action_type="query_expression")
    assert built.model_fields_set == set(DrugTargetAction.model_fields)


@pytest.mark.parametrize("params", [{"min_score": 1}, {"min_score": 1.0}, {"min_score": -0.0}, {"min_score": 0.0}])
def test_canonical_parameters_keep_each_input_apart(params):
    """The memo of canonical parameters tells 1 from 1.0 and -0.0 from 0.0, as validation does."""
    expected = NetworkParams.model_validate(params).model_dump(mode="json")
    for _ in range(2):  # the second one comes from the memo
        got = DrugTargetAction(action_type="coexpression_network", parameters=params).parameters
        assert got == expected and type(got["min_score"]) is type(expected["min_score"])
        assert math.copysign(1.0, got["min_score"]) == math.copysign(1.0, params["min_score"])


@pytest.mark.parametrize("params", [{}, {"a": 1}, {"a": True}, {"a": 1.0}, {"a": -0.0}, {"a": 0.0}, {"a": 0},
                                    {"b": "x", "a": False}, {"a": "x", "b": False}, {"a": [1, 2]}, {"a": None}])
def test_parameters_key_is_the_sorted_json(params):
    """The memoised key text is ``json.dumps(..., sort_keys=True)`` for every input, however the memo
    was filled before (``True`` and ``1``, ``-0.0`` and ``0.0`` compare equal but encode apart)."""
    import json

    for _ in range(2):
        for other in ({"a": 1}, {"a": True}, {"a": 0.0}, {"a": 0}):  # look-alikes in the memo first
            parameters_key(other)
        assert parameters_key(params) == json.dumps(params, sort_keys=True)


def test_memoised_parameters_are_fresh_dicts():
    a = DrugTargetAction(action_type="query_expression", parameters={"database": "GTEx"})
    a.parameters["database"] = "HPA"
    assert DrugTargetAction(action_type="query_expression", parameters={"database": "GTEx"}).parameters == {"database": "GTEx"}


def test_observation_json_round_trips():
    for _, obs in _episodes(4):
        assert ValidationObservation.model_validate_json(obs.model_dump_json()) == obs
