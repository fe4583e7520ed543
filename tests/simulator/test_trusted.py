"""What the simulator builds without validation (``drugenv.models.trusted``) equals what validation builds.

The hot path constructs observations, findings, history entries, outputs and violations from values
it made itself; these tests pin that each one is exactly the model pydantic would have validated:
same values, same types, fields in declaration order (serialization follows it), and independent
containers (a caller mutating one observation cannot reach the environment or another observation): the
records observations share (findings, history entries, outputs, violations) are frozen, their dicts and
lists read-only.
"""

from __future__ import annotations

import copy
import json
import math
import pickle

import pytest
from pydantic import BaseModel, ValidationError

from drugenv.actions import ActionType, NetworkParams
from drugenv.agents.baselines import RandomPolicy
from drugenv.models import DrugTargetAction, ReadOnlyDict, ReadOnlyList, ValidationObservation, parameters_key, read_only, trusted
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


def _refused(change) -> None:
    with pytest.raises((TypeError, ValidationError)) as err:
        change()
    assert "read-only" in str(err.value) or "frozen" in str(err.value)


def test_a_caller_cannot_edit_what_later_observations_share():
    """The invariant audit's case: an edited readout or history parameter showed in every later observation."""
    env = DrugTargetEnvironment()
    env.reset(seed=0, scenario="egfr_nsclc_viable")
    first = env.step({"action_type": "query_expression", "parameters": {"database": "GTEx"}})
    finding, entry, output = first.dossier.expression[0], first.pipeline_history[0], first.latest_output
    tissues = finding.data["normal_tpm_by_tissue"]
    _refused(lambda: tissues.__setitem__("liver", -1.0))
    _refused(lambda: finding.data.update(x=1))
    _refused(lambda: finding.data.pop("normal_tpm_by_tissue"))
    _refused(lambda: entry.parameters.__setitem__("database", "HPA"))
    _refused(lambda: entry.violations.append("x"))
    _refused(lambda: output.data.clear())
    _refused(lambda: setattr(finding, "summary", "x"))
    _refused(lambda: setattr(entry, "parameters", {}))
    _refused(lambda: setattr(output, "data", {}))
    later = env.step({"action_type": "literature_search"})
    assert later.dossier.expression[0].data == finding.data and later.pipeline_history[0].parameters == {"database": "GTEx"}
    assert later.dossier.expression[0] is finding  # shared, which is why it is read-only


def test_every_shared_container_of_an_episode_is_read_only():
    def containers(value):
        if isinstance(value, dict):
            yield value
            for v in value.values():
                yield from containers(v)
        elif isinstance(value, list):
            yield value
            for v in value:
                yield from containers(v)

    seen = 0
    for _, obs in _episodes(8):
        records = [*obs.dossier.all_findings(), *obs.pipeline_history, obs.latest_output]
        for record in records:
            for name in ("data", "parameters", "violations"):
                for c in containers(getattr(record, name, None)):
                    assert type(c) in (ReadOnlyDict, ReadOnlyList), (type(record).__name__, name, c)
                    seen += 1
    assert seen > 500


def test_read_only_containers_serialise_copy_and_pickle_like_their_values():
    value = {"a": [1, {"b": 2.5}], "c": {"d": "µ"}, "e": None}
    ro = read_only(value)
    assert ro == value and type(ro["a"]) is ReadOnlyList and type(ro["a"][1]) is ReadOnlyDict
    assert json.dumps(ro) == json.dumps(value)
    deep = copy.deepcopy(ro)  # what obs.model_copy(deep=True) does: an editable copy
    assert type(deep) is dict and type(deep["a"]) is list and type(deep["a"][1]) is dict and deep == value
    deep["a"][1]["b"] = 0.0
    assert ro["a"][1]["b"] == 2.5
    assert type(copy.copy(ro)) is dict and copy.copy(ro["a"]) == value["a"]
    back = pickle.loads(pickle.dumps(ro))
    assert back == value and type(back) is ReadOnlyDict and type(back["a"]) is ReadOnlyList
    env = DrugTargetEnvironment()
    env.reset(seed=1)
    obs = env.step({"action_type": "query_expression"})
    editable = obs.model_copy(deep=True)
    editable.dossier.expression[0].data["x"] = 1
    assert "x" not in env.step({"action_type": "literature_search"}).dossier.expression[0].data
    assert pickle.loads(pickle.dumps(obs)) == obs
