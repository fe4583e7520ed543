"""Malformed actions give clear violations (through step) or validation errors (through the model), never a crash."""

import json

import numpy as np
import pytest
from pydantic import ValidationError

from drugenv.models import DrugTargetAction
from drugenv.simulator.environment import DrugTargetEnvironment
from drugenv.simulator.rules import UNPARSEABLE_ACTION_TYPE

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


# Lax types: a lax model scored `true` as confidence 1.0 and took "0.5"; numbers and flags are strict now.
REPORT = {"action_type": "submit_validation_report", "final_decision": "go"}
LAX = [
    ({**REPORT, "confidence": True}, "confidence: Input should be a valid number"),
    ({**REPORT, "confidence": "0.5"}, "confidence: Input should be a valid number"),
    ({**REPORT, "confidence": float("nan")}, "confidence: Input should be a finite number"),
    ({"action_type": "coexpression_network", "parameters": {"min_score": "0.9"}}, "parameters.min_score"),
    ({"action_type": "coexpression_network", "parameters": {"min_score": False}}, "parameters.min_score"),
    ({"action_type": "clinical_trial_lookup", "parameters": {"min_phase": True}}, "parameters.min_phase"),
    ({"action_type": "clinical_trial_lookup", "parameters": {"min_phase": "2"}}, "parameters.min_phase"),
    ({"action_type": "literature_search", "parameters": {"since_year": "2013"}}, "parameters.since_year"),
    ({"action_type": "binding_site_analysis", "parameters": {"include_allosteric": "true"}},
     "parameters.include_allosteric: Input should be a valid boolean"),
    ({"action_type": "binding_site_analysis", "parameters": {"include_allosteric": 1}}, "parameters.include_allosteric"),
]


@pytest.mark.parametrize("raw,needle", BAD + LAX)
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


@pytest.mark.parametrize("raw", [r for r, _ in BAD[:5] + LAX])
def test_model_raises_validation_error(raw):
    with pytest.raises(ValidationError):
        DrugTargetAction.model_validate(raw)


def test_step_before_reset_raises_typed_error():
    from drugenv.errors import EnvNotResetError

    with pytest.raises(EnvNotResetError, match="reset"):
        DrugTargetEnvironment().step({"action_type": "query_expression"})


def test_json_numbers_are_numbers():
    """JSON has one number type: an integer is a valid float (1 is confidence 1.0)."""
    report = DrugTargetAction.model_validate({**REPORT, "confidence": 1})
    assert report.confidence == 1.0 and type(report.confidence) is float
    net = DrugTargetAction.model_validate({"action_type": "coexpression_network", "parameters": {"min_score": 1}})
    assert net.parameters["min_score"] == 1.0 and type(net.parameters["min_score"]) is float
    env = DrugTargetEnvironment()
    env.reset(seed=1, scenario="egfr_nsclc_viable")
    obs = env.step({**REPORT, "confidence": 1})
    assert obs.done and "invalid_action" not in [v.rule for v in obs.rule_violations]


def test_numpy_scalars_are_the_values_they_hold():
    """A policy's numpy output (``np.int64(2015)``) is its value, as the client sends it over the wire; the kind
    is still checked (a float is not a year, a bool not a number)."""
    def played(params):
        env = DrugTargetEnvironment()
        env.reset(seed=3, scenario="egfr_nsclc_viable")
        obs = env.step({"action_type": "literature_search", "parameters": params, "reasoning": "x"})
        return obs.model_dump_json(), [v.rule for v in obs.rule_violations]

    plain, rules = played({"since_year": 2015})
    assert rules == []
    for value in (np.int64(2015), np.int32(2015), np.uint16(2015)):
        assert played({"since_year": value}) == (plain, [])
    for value in (np.float64(2015.0), np.bool_(True)):
        assert played({"since_year": value})[1] == ["invalid_action"]
    site = DrugTargetAction.model_validate({"action_type": "binding_site_analysis", "parameters": {"include_allosteric": np.bool_(True)}})
    assert site.parameters["include_allosteric"] is True
    with pytest.raises(ValidationError):
        DrugTargetAction.model_validate({"action_type": "binding_site_analysis", "parameters": {"include_allosteric": np.int64(1)}})


def test_a_numpy_bool_is_not_a_number_in_process_as_over_the_wire():
    """The client sends ``np.True_`` as JSON ``true``, which a number field refuses; in process a strict float
    took it as 1.0, so the same seed and actions played another episode, a report ended one episode and not the
    other (the wire audit). A numpy float is its value in both."""
    env = DrugTargetEnvironment()

    def step(action):
        env.reset(seed=0, scenario="egfr_nsclc_viable")
        obs = env.step(action)
        return obs.done, [v.rule for v in obs.rule_violations], obs.latest_output.summary

    report = {"action_type": "submit_validation_report", "final_decision": "go"}
    assert step({**report, "confidence": np.True_})[:2] == (False, ["invalid_action"])
    assert step({"action_type": "coexpression_network", "parameters": {"min_score": np.True_}})[1] == ["invalid_action"]
    assert step({**report, "confidence": np.float64(0.7)}) == step({**report, "confidence": 0.7})
    assert step({"action_type": "coexpression_network", "parameters": {"min_score": np.float32(0.5)}}) == \
        step({"action_type": "coexpression_network", "parameters": {"min_score": 0.5}})
    with pytest.raises(ValidationError):
        DrugTargetAction(action_type="submit_validation_report", final_decision="go", confidence=np.True_)


def test_parameter_errors_are_reported_with_the_other_fields():
    env = DrugTargetEnvironment()
    env.reset(seed=1, scenario="egfr_nsclc_viable")
    obs = env.step({"action_type": "literature_search", "parameters": {"since_year": 1900}, "reasoning": 7})
    assert "parameters.since_year" in obs.rule_violations[0].message and "reasoning" in obs.rule_violations[0].message


@pytest.mark.parametrize("raw", [
    {"action_type": UNPARSEABLE_ACTION_TYPE, "reasoning": "parse error near 'x\ud800'"},  # what JSON's "\ud800" decodes to
    {"action_type": "query_expression", "reasoning": "r\udfff", "parameters": {"database": "GTEx\ud800"}},
])
def test_text_that_utf8_cannot_encode_never_reaches_a_record(raw):
    """A lone surrogate in an action is refused or escaped: this observation and every later one of the
    episode still serialize (the violation's text is kept in the pipeline history)."""
    env = DrugTargetEnvironment()
    env.reset(seed=1, scenario="egfr_nsclc_viable")
    obs = env.step(raw)
    assert [v.rule for v in obs.rule_violations] == ["invalid_action"]
    assert json.loads(obs.model_dump_json())["rule_violations"][0]["message"] == obs.rule_violations[0].message
    if raw["action_type"] == UNPARSEABLE_ACTION_TYPE:
        assert obs.rule_violations[0].message == "parse error near 'x\\ud800'"
    later = env.step({"action_type": "query_expression"})
    assert later.latest_output.status == "ok" and later.model_dump_json()


@pytest.mark.parametrize("seed", [1.9, "7", True, -1, [3]])
def test_reset_seeds_are_integers_from_zero(seed):
    """int() read 1.9 as 1, "7" as 7 and True as 1: a wrong seed played another episode without a word."""
    from drugenv.errors import ConfigError

    with pytest.raises(ConfigError, match="seed must be an integer >= 0"):
        DrugTargetEnvironment().reset(seed=seed, scenario="procedural")
    assert DrugTargetEnvironment().reset(seed=np.uint32(7)).metadata["seed"] == 7


def test_reset_seeds_stop_where_the_servers_do():
    """The server takes seeds up to 2**63 - 1 (a signed 64-bit integer); the core took any size, so an
    episode played in process with a wider seed could not be replayed over the server."""
    from drugenv.errors import ConfigError
    from drugenv.server.protocol import ResetRequest
    from drugenv.simulator.environment import MAX_SEED

    assert DrugTargetEnvironment().reset(seed=MAX_SEED).metadata["seed"] == MAX_SEED
    assert ResetRequest(seed=MAX_SEED).seed == MAX_SEED
    with pytest.raises(ConfigError, match=r"at most 2\*\*63 - 1"):
        DrugTargetEnvironment().reset(seed=MAX_SEED + 1)
    with pytest.raises(ValueError):
        ResetRequest(seed=MAX_SEED + 1)


def test_configs_are_models_or_dicts_of_their_fields():
    """A dict of fields is taken as the model; anything else, or a field out of range, is a ConfigError at
    construction (a dict was stored as is and failed with AttributeError at the first reset)."""
    from drugenv.errors import ConfigError
    from drugenv.simulator.params import RewardConfig

    env = DrugTargetEnvironment(reward_config={"decision_scoring": "brier"}, sim_params={"max_steps": 12})
    assert env.reward_config == RewardConfig(decision_scoring="brier") and env.sim_params.max_steps == 12
    env.reset(seed=0, scenario="procedural")
    for kwargs, needle in (({"reward_config": "brier"}, "reward_config must be a RewardConfig or a dict"),
                           ({"reward_config": {"decision_scoring": "nope"}}, "reward_config: decision_scoring"),
                           ({"sim_params": {"colour": 1}}, "sim_params: colour"), ({"seal": 5}, "seal must be"),
                           ({"seal": ""}, "seal must be")):
        with pytest.raises(ConfigError, match=needle):
            DrugTargetEnvironment(**kwargs)


def test_an_array_as_action_type_is_a_violation():
    """``raw.get("action_type") == "__unparseable__"`` on an array asked numpy for an array's truth value."""
    env = DrugTargetEnvironment()
    env.reset(seed=0)
    obs = env.step({"action_type": np.array([1, 2])})
    assert [v.rule for v in obs.rule_violations] == ["invalid_action"]


def test_a_violation_quotes_at_most_a_line_of_the_action():
    """A megabyte of action_type, or a parameter key of 60 KB, was echoed whole into the violation
    and into every later observation's history."""
    env = DrugTargetEnvironment()
    env.reset(seed=0)
    for raw in ({"action_type": "x" * 1_000_000},
                {"action_type": "query_expression", "parameters": {"k" * 60_000: 1}}):
        obs = env.step(raw)
        assert obs.rule_violations[0].rule == "invalid_action"
        message = obs.rule_violations[0].message
        assert "x" * 100 not in message and "k" * 100 not in message and "characters)" in message, message
    assert len(obs.model_dump_json()) < 20_000


def test_a_built_action_cannot_be_changed_past_its_checks():
    """The environment trusts a validated action: a confidence of 10 set afterwards paid a reward of 8."""
    action = DrugTargetAction(action_type="submit_validation_report", final_decision="go", confidence=0.9)
    for field, value in (("confidence", 10.0), ("action_type", "bogus"), ("parameters", {})):
        with pytest.raises(ValidationError, match="frozen"):
            setattr(action, field, value)


def test_numpy_zero_and_minus_zero_are_told_apart_in_any_order():
    """The canonical-parameter memo keyed numpy floats by value, so np.float64(-0.0) after
    np.float64(0.0) was handed 0.0's canonical form (and the reverse in another process)."""
    from drugenv.actions import ActionType
    from drugenv.models import _CANONICAL, _canonical_parameters

    for first, second in ((0.0, -0.0), (-0.0, 0.0)):
        _CANONICAL.clear()
        got = [_canonical_parameters(ActionType.COEXPRESSION_NETWORK, {"min_score": np.float64(v)})["min_score"]
               for v in (first, second)]
        assert [np.copysign(1, g) for g in got] == [np.copysign(1, first), np.copysign(1, second)]


@pytest.mark.parametrize("kind, config", [
    ("reward_config", {"w_decision": float("nan")}), ("reward_config", {"w_coverage": float("inf")}),
    ("reward_config", {"shaping_weight": float("inf")}), ("reward_config", {"w_coherence": -0.1}),
    ("sim_params", {"noise_level": {"easy": 1.5}}),
])
def test_configs_refuse_values_that_break_every_episode(kind, config):
    """NaN or infinite weights made every reward NaN; a noise level above 1 failed at the first reset."""
    from drugenv.errors import ConfigError

    with pytest.raises(ConfigError, match=f"{kind}: {next(iter(config))}"):
        DrugTargetEnvironment(**{kind: config})


@pytest.mark.parametrize("kwargs,error", [
    ({"scenario": ["egfr_nsclc_viable"]}, "unknown scenario"),  # was an unhashable-type TypeError
    ({"scenario": "egfr_nsclc_viable", "difficulty": "ultra"}, "difficulty 'ultra' is unknown"),
    ({"episode_id": 3}, "episode_id must be text"),
    ({"episode_id": ""}, "episode_id must be text"),
    ({"episode_id": "\ud800"}, "lone surrogate"),  # every later model_dump_json of the episode raised
])
def test_bad_reset_arguments_are_typed_errors(kwargs, error):
    from drugenv.errors import DrugEnvError

    env = DrugTargetEnvironment()
    with pytest.raises(DrugEnvError, match=error):
        env.reset(seed=1, **kwargs)
    assert env.reset(seed=1, scenario="egfr_nsclc_viable", episode_id="ok").metadata["episode_id"] == "ok"
