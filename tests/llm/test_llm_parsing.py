import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drugenv.actions import ACTION_TABLE, ActionType
from drugenv.llm.parsing import UNPARSEABLE_ACTION_TYPE, ParseFailure, parse_action, to_env_action, unparseable_action
from drugenv.llm.prompts import action_to_json
from drugenv.llm.tiny import _random_params
from drugenv.models import DrugTargetAction
from drugenv.simulator.environment import DrugTargetEnvironment


def _action(at: ActionType, rng: random.Random) -> DrugTargetAction:
    params = _random_params(ACTION_TABLE[at], rng)
    if at is ActionType.FLAG_RED_FLAG:
        params["description"] = "hERG liability"
    extra = {"final_decision": "no_go", "confidence": 0.8} if at is ActionType.SUBMIT_VALIDATION_REPORT else {}
    return DrugTargetAction(action_type=at, parameters=params, reasoning="because", **extra)


@pytest.mark.parametrize("at", list(ActionType))
@pytest.mark.parametrize("wrap", [
    "{}",
    "```json\n{}\n```",
    "```\n{}\n```",
    "Here is my action:\n{}\nI hope this helps.",
    "{}<|im_end|>",
    "  \n{}\n\n",
])
def test_round_trip_every_action_type(at, wrap):
    for seed in range(3):
        action = _action(at, random.Random(seed))
        parsed = parse_action(wrap.replace("{}", action_to_json(action), 1))
        assert isinstance(parsed, DrugTargetAction), parsed
        assert parsed == action


def test_first_object_with_action_type_wins():
    text = 'thinking {"note": 1} then {"action_type": "literature_search"} and {"action_type": "query_expression"}'
    assert parse_action(text).action_type is ActionType.LITERATURE_SEARCH


BROKEN = [
    ("", "empty"),
    ("   \n  ", "empty"),
    ("<|im_end|>", "empty"),
    ("I would query expression first.", "no_json"),
    ("[1, 2, 3]", "no_json"),
    ('{"action_type": "query_expression", "parameters": {"database": "GT', "invalid_json"),
    ('{"action_type": "query_expression",', "invalid_json"),
    ("{'action_type': 'query_expression'}", "invalid_json"),
    ('```json\n{"action_type": "query_expression" "parameters": {}}\n```', "invalid_json"),
    ('{"action_type": "make_coffee"}', "schema"),
    ('{"action_type": 5}', "schema"),
    ('{"action": "query_expression"}', "schema"),
    ('{"action_type": "query_expression", "parameters": {"database": "Ensembl"}}', "schema"),
    ('{"action_type": "query_expression", "parameters": {"db": "GTEx"}}', "schema"),
    ('{"action_type": "query_expression", "parameters": ["GTEx"]}', "schema"),
    ('{"action_type": "coexpression_network", "parameters": {"min_score": "0.5"}}', "schema"),
    ('{"action_type": "coexpression_network", "parameters": {"min_score": 1.5}}', "schema"),
    ('{"action_type": "binding_site_analysis", "parameters": {"include_allosteric": "yes"}}', "schema"),
    ('{"action_type": "clinical_trial_lookup", "parameters": {"min_phase": 2.5}}', "schema"),
    ('{"action_type": "flag_red_flag", "parameters": {}}', "schema"),
    ('{"action_type": "submit_validation_report", "final_decision": "maybe", "confidence": 0.5}', "schema"),
    ('{"action_type": "submit_validation_report", "final_decision": "go", "confidence": "high"}', "schema"),
    ('{"action_type": "submit_validation_report", "final_decision": "go", "confidence": 1.7}', "schema"),
    # strict JSON: a number written as text, or a bool, is not the number lax validation would make of it
    ('{"action_type": "submit_validation_report", "final_decision": "go", "confidence": "0.8"}', "schema"),
    ('{"action_type": "submit_validation_report", "final_decision": "go", "confidence": true}', "schema"),
    ('{"action_type": "literature_search", "parameters": {"since_year": "2015"}}', "schema"),
    ('{"action_type": "literature_search", "reasoning": 42}', "schema"),
    ('{"action_type": "literature_search", "thoughts": "x"}', "schema"),
]


@pytest.mark.parametrize("text,kind", BROKEN)
def test_broken_outputs_become_typed_failures(text, kind):
    result = parse_action(text)
    assert isinstance(result, ParseFailure)
    assert result.kind == kind, result
    assert result.message and kind in result.violation
    sent = to_env_action(result)
    assert sent == unparseable_action(result)
    assert sent["action_type"] == UNPARSEABLE_ACTION_TYPE


# derandomize: the same examples every run, so a parser bug fails every run rather than one in a few.
JSONISH = '{}[]":,.-+eE0123456789 \n_abcdefghijklmnopqrstuvwxyz'


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=300) | st.text(alphabet=JSONISH, max_size=300))
def test_parser_never_raises_on_arbitrary_text(text):
    result = parse_action(text)
    assert isinstance(result, (DrugTargetAction, ParseFailure))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=12), c, max_size=4),
                    max_leaves=10))
def test_parser_never_raises_on_arbitrary_json(value):
    obj = {"action_type": "query_expression", "parameters": value} if isinstance(value, dict) else value
    result = parse_action(json.dumps(obj))
    assert isinstance(result, (DrugTargetAction, ParseFailure))


@pytest.mark.parametrize("text", [
    '{"a":' + "[" * 1000,  # deeper than Python's recursion limit lets json decode
    '{"a":' + "1" * 4301 + "}",  # an integer past sys.get_int_max_str_digits()
    '{"action_type": "query_expression", "reasoning": ' + "9" * 5000 + "}",
    '{"action_type": "query_expression", "parameters": ' + "[" * 990 + "]" * 990 + "}",
    '{"action_type": "query_expression", "x": ' + '{"a": ' * 900 + "1" + "}" * 900 + "}",
])
def test_replies_json_cannot_decode_are_failures_not_errors(text):
    result = parse_action(text)
    assert isinstance(result, ParseFailure) and result.kind in ("invalid_json", "schema"), result
    env = DrugTargetEnvironment()
    env.reset(seed=0, scenario="egfr_nsclc_viable")
    assert [v.rule for v in env.step(to_env_action(result)).rule_violations] == ["invalid_action"]


def test_a_lone_surrogate_escape_names_its_field():
    """Its message named the whole action and a column of the parser's own rewrite of the reply."""
    for field, action in (("reasoning", '{"action_type": "literature_search", "reasoning": "\\ud800"}'),
                          ("parameters.query", '{"action_type": "literature_search", "parameters": {"query": "\\udc00x"}}')):
        failure = parse_action(action)
        assert isinstance(failure, ParseFailure) and failure.kind == "schema"
        assert failure.message.startswith(f"{field}: Input should be a valid string"), failure.message


def test_a_lone_surrogate_escape_in_a_key_says_so():
    """A key was reported as "Invalid JSON ... column 44" of the parser's own copy, or inside parameters as
    "parameters.action: Input should be a valid string", a field that does not exist."""
    for where, action in (("action: a key", '{"action_type": "query_expression", "\ud800": 1}'),
                          ("parameters: a key", '{"action_type": "query_expression", "parameters": {"\ud800": 1}}')):
        failure = parse_action(action)
        assert isinstance(failure, ParseFailure) and failure.kind == "schema"
        assert failure.message.startswith(where) and "not valid unicode" in failure.message, failure.message


@pytest.mark.parametrize("reply", [b'{"action_type": "query_expression"}', 7, ["x"]])
def test_a_reply_that_is_not_text_is_a_type_error(reply):
    with pytest.raises(TypeError, match="takes the model's reply as a str"):
        parse_action(reply)


def test_unparseable_step_is_a_penalised_noop_and_the_episode_goes_on():
    env = DrugTargetEnvironment()
    before = env.reset(seed=0, scenario="egfr_nsclc_viable")
    failure = parse_action("let me think about EGFR")
    obs = env.step(to_env_action(failure))
    assert not obs.done
    assert obs.credits_remaining == before.credits_remaining
    assert obs.reward is not None and obs.reward < 0
    assert [(v.rule, v.severity) for v in obs.rule_violations] == [("invalid_action", "hard")]
    obs = env.step(parse_action('{"action_type": "literature_search"}'))
    assert obs.rule_violations == [] and obs.credits_remaining == before.credits_remaining - 1
