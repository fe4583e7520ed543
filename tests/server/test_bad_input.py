"""Bad input gets a clear error frame (WS) or a 4xx (HTTP), never a 500, and the session and the
server keep working. Property tests (hypothesis) throw arbitrary frames and bodies at one live
session; the explicit tests pin each documented error code."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import threading
import time
from typing import Any, Iterator, Optional

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from drugenv.actions import ActionType
from drugenv.client import CapacityReachedError, DrugTargetEnv, EnvConnectionError, EnvServerError
from drugenv.errors import ConfigError
from drugenv.server.app import create_app
from drugenv.server.protocol import ErrorCode
from drugenv.server.serve import serve_in_thread
from drugenv.simulator.environment import DrugTargetEnvironment

from .conftest import SCENARIOS, handshake_status, ws_url

CODES = {c.value for c in ErrorCode}
HAS_PROCEDURAL = importlib.util.find_spec("drugenv.scenarios.procedural") is not None
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=True, database=None)



def json_text(max_size: int) -> st.SearchStrategy[str]:
    """Strings a JSON text can hold: any character, and lone surrogates too (``"\\ud800"`` decodes to one),
    which hypothesis's text never draws and UTF-8 cannot encode."""
    return st.text(st.characters() | st.integers(0xD800, 0xDFFF).map(chr), max_size=max_size)


json_leaf = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | json_text(12)
json_value = st.recursive(json_leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(json_text(8), c, max_size=4),
                          max_leaves=12)
action_type = st.sampled_from([a.value for a in ActionType]) | json_text(20)
actions = st.fixed_dictionaries(
    {"action_type": action_type},
    optional={"parameters": st.dictionaries(st.sampled_from(["database", "panel", "min_score", "min_phase", "query",
                                                            "description", "x"]), json_value, max_size=3) | json_value,
              "final_decision": st.sampled_from(["go", "no_go", "maybe"]) | json_leaf,
              "confidence": st.floats(-1e9, 1e9) | json_leaf,
              "reasoning": json_text(50) | json_leaf,
              "extra_field": json_value},
)
reset_data = st.fixed_dictionaries(
    {"scenario": st.sampled_from(SCENARIOS) | json_text(20)},
    optional={"seed": st.integers(-(2**70), 2**70) | json_leaf, "episode_id": json_text(300) | json_leaf,
              "difficulty": st.sampled_from(["easy", "hard", "x"]) | json_leaf, "options": json_value},
)
frames = st.one_of(
    st.text(max_size=200),
    json_value.map(json.dumps),
    st.builds(lambda a: json.dumps({"type": "step", "data": a}), actions),
    st.builds(lambda d: json.dumps({"type": "reset", "data": d}), reset_data),
    st.builds(lambda t, d: json.dumps({"type": t, "data": d}),
              st.sampled_from(["reset", "step", "state", "close", "mcp", "STEP", ""]) | json_text(10), json_value),
)


def is_close_frame(text: str) -> bool:
    try:
        msg = json.loads(text)
    except ValueError:
        return False
    return isinstance(msg, dict) and msg == {"type": "close"}


@pytest.fixture(scope="module")
def session(server_url: str) -> Iterator[Any]:
    """One WebSocket shared by every hypothesis example: the session must survive all of them."""
    with connect(ws_url(server_url)) as ws:
        ws.send(json.dumps({"type": "reset", "data": {"seed": 0, "scenario": "egfr_nsclc_viable"}}))
        assert json.loads(ws.recv())["type"] == "observation"
        yield ws


@SETTINGS
@given(frame=frames)
def test_any_frame_gets_a_clear_answer_and_the_session_lives(session: Any, frame: str) -> None:
    assume(not is_close_frame(frame))
    session.send(frame)
    reply = json.loads(session.recv(timeout=10))
    assert reply["type"] in {"observation", "error", "state", "mcp"}
    if reply["type"] == "error":
        assert reply["data"]["code"] in CODES and reply["data"]["message"]
        assert reply["data"]["code"] not in {"SESSION_ERROR", "CAPACITY_REACHED", "FACTORY_ERROR"}
        if reply["data"]["code"] == "EXECUTION_ERROR":  # only a procedural reset before the generator exists
            assert not HAS_PROCEDURAL and "ModuleNotFoundError" in reply["data"]["message"]
    session.send('{"type":"state"}')
    assert json.loads(session.recv(timeout=10))["type"] == "state"


@pytest.fixture(scope="module")
def http(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=10) as client:
        yield client


@settings(SETTINGS, max_examples=30)
@given(body=json_value, action=actions)
def test_http_bodies_get_4xx_never_500(http: httpx.Client, body: Any, action: dict[str, Any]) -> None:
    for path, payload in (("/reset", body), ("/step", body), ("/step", {"action": action}),
                          ("/step", {"action": action, "timeout_s": -1})):
        if path == "/reset" and not HAS_PROCEDURAL and isinstance(body, dict) and "scenario" not in body:
            continue  # a valid body without a scenario needs the procedural generator
        # json.dumps escapes lone surrogates (httpx's json= writes them raw and cannot encode them)
        resp = http.post(path, content=json.dumps(payload), headers={"content-type": "application/json"})
        assert resp.status_code in {200, 409, 422}, (path, payload, resp.text)
    assert http.post("/reset", content=b"{not json").status_code == 422
    assert http.get("/health").json()["status"] == "healthy"


# Bodies that FastAPI's own 422 handler answered with a 500: it echoes the input, and NaN, infinity
# or a lone surrogate cannot be encoded back. (path, body, error type, error loc)
NOT_JSON = ("json_invalid", ["body"])
UNENCODABLE_BODIES = [
    ("/reset", '{"seed":NaN}', *NOT_JSON),
    ("/reset", '{"seed":Infinity}', *NOT_JSON),
    ("/reset", '{"seed":-Infinity}', *NOT_JSON),
    ("/reset", '{"seed":1e400}', "int_type", ["body", "seed"]),
    ("/reset", '{"episode_id":"\\ud800","scenario":"egfr_nsclc_viable"}', "string_unicode", ["body", "episode_id"]),
    ("/reset", '{"scenario":"\\ud800"}', "string_unicode", ["body", "scenario"]),
    ("/reset", '{"\\ud800":1}', "string_unicode", ["body"]),
    ("/reset", '{"\\udc00":1}', "string_unicode", ["body"]),
    ("/reset", '{"seed":1,"options":{"deep":[[{"x":NaN}]]}}', *NOT_JSON),
    ("/reset", "NaN", *NOT_JSON),
    ("/reset", '"\\ud800"', "model_attributes_type", ["body"]),
    ("/step", '{"action":NaN}', *NOT_JSON),
    ("/step", '{"action":{"action_type":"literature_search"},"timeout_s":NaN}', *NOT_JSON),
    ("/step", '{"action":{"action_type":"literature_search"},"timeout_s":1e400}', "finite_number", ["body", "timeout_s"]),
    ("/step", '{"action":{"action_type":"literature_search"},"request_id":"\\ud800"}', "string_unicode",
     ["body", "request_id"]),
    ("/step", '{"action":{"action_type":"literature_search","parameters":{"since_year":-Infinity}}}', *NOT_JSON),
    ("/step", '{"action":{"action_type":"submit_validation_report","final_decision":"go","confidence":0.5,'
              '"parameters":{"x":[{"y":NaN}]}}}', *NOT_JSON),
]


@pytest.mark.parametrize("path,body,kind,loc", UNENCODABLE_BODIES, ids=[f"{p}:{b[:60]}" for p, b, *_ in UNENCODABLE_BODIES])
def test_unencodable_bodies_get_a_typed_422(http: httpx.Client, path: str, body: str, kind: str, loc: list[str]) -> None:
    resp = http.post(path, content=body.encode("utf-8", "surrogatepass"), headers={"content-type": "application/json"})
    assert resp.status_code == 422, (resp.status_code, resp.text)
    detail = resp.json()["detail"]
    assert all(set(item) == {"loc", "msg", "type"} and item["msg"] for item in detail), detail
    assert (detail[0]["type"], detail[0]["loc"]) == (kind, loc), detail
    assert "ud800" not in resp.text and "udc00" not in resp.text  # never echoed, not even escaped
    assert http.get("/health").json()["status"] == "healthy"


def test_invalid_json_says_what_and_where(http: httpx.Client) -> None:
    cases = [(b'{\n "seed": NaN}', "NaN is not valid JSON; send a finite number, or null: line 2 column 10"),
             (b'{"scenario": "\xff"}', "not UTF-8 (JSON text must be UTF-8 encoded): line 1 column 15"),
             (b'{"seed" 1}', "Expecting ':' delimiter: line 1 column 9"),
             (b'{"seed": ' + b"9" * 5000 + b"}", "an integer has more than"),
             # deeper than every supported Python's json decoder goes (3.10-3.11: the recursion limit, ~1,000;
             # 3.12+: the C recursion limit, ~10,000), and within the 64 KiB body cap
             (b"[" * 20_000 + b"]" * 20_000, "nested too deeply")]
    for body, why in cases:
        resp = http.post("/reset", content=body, headers={"content-type": "application/json"})
        assert resp.status_code == 422, (body[:40], resp.text)
        assert resp.json() == {"detail": [{"loc": ["body"], "msg": resp.json()["detail"][0]["msg"], "type": "json_invalid"}]}
        assert resp.json()["detail"][0]["msg"].startswith("invalid JSON: " + why), resp.text
    mcp = http.post("/mcp", content=b'{"jsonrpc":"2.0","id":NaN}', headers={"content-type": "application/json"})
    assert mcp.json()["error"]["code"] == -32700  # the same decoder: NaN is a JSON-RPC parse error


def test_ports_are_probed_in_the_hosts_own_family_and_a_host_that_cannot_bind_is_named() -> None:
    """``free_port`` opened an IPv4 socket whatever the host (``--host ::1`` under granian's port 0 was a
    ``gaierror`` traceback); a host the IDNA codec cannot encode was a ``TypeError`` traceback; an empty
    host bound every interface."""
    from drugenv.server.serve import check_port_free, free_port

    for host, why in [("", "--host is empty"), ("é" * 70, "the host is not a name or an address")]:
        for probe_port in (lambda: free_port(host), lambda: check_port_free(host, 0)):
            with pytest.raises(ConfigError, match=why):
                probe_port()
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here (the hosts above were checked)")
    check_port_free("::1", free_port("::1"))


def test_an_overlong_integer_is_placed_at_its_own_digits() -> None:
    """The error points at the integer ``int()`` refused, not at the digits of a string, a fraction or an
    exponent before it (``float`` takes any length), nor at shorter integers."""
    from drugenv.server.protocol import loads_json

    n = sys.get_int_max_str_digits()
    over = "7" * (n + 1)
    text = '{"s": "%s", "f": 0.%s, "e": 1e-%s, "g": 2E+%s, "ok": [%s], "x": -%s}' % (
        over, over, over, over, ",".join(["9" * n] * 14), over)
    with pytest.raises(json.JSONDecodeError, match=f"an integer has more than {n} digits") as err:
        loads_json(text)
    assert err.value.pos == text.index(', "x": ') + len(', "x": ')


@pytest.mark.parametrize("content_type,got", [
    ("text/plain", "text/plain"),
    ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),  # what curl -d sends
    (None, "no Content-Type"),
    ("LEAKME <not a media type>", "a Content-Type that is no media type"),  # not echoed
])
def test_a_json_body_under_another_content_type_is_told_to_send_json(http: httpx.Client, content_type: Optional[str],
                                                                     got: str) -> None:
    """FastAPI reads a body as JSON only under a JSON content type; under another, the body reached the request
    model as text and the 422 said "Input should be a valid dictionary", which sent users looking at their JSON."""
    headers = {"content-type": content_type} if content_type else {}
    for path, body in (("/reset", b'{"seed": 1}'), ("/step", b'{"action": {"action_type": "literature_search"}}')):
        resp = http.post(path, content=body, headers=headers)
        assert resp.status_code == 422, resp.text
        assert resp.json()["detail"] == [{"loc": ["body"], "type": "model_attributes_type", "msg":
                                          f"the body was not read as JSON: send it with Content-Type: application/json (got {got})"}]
    assert http.post("/reset", content=b'{"seed": 1}', headers={"content-type": "application/json; charset=utf-8"}).status_code == 200


def test_an_mcp_id_utf8_cannot_encode_is_answered_with_a_null_id(server_url: str, http: httpx.Client) -> None:
    body = '{"jsonrpc":"2.0","id":"\\ud800"}'  # valid JSON; the id decodes to a lone surrogate
    resp = http.post("/mcp", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 200 and resp.json()["id"] is None and resp.json()["error"]["code"] == -32603
    with connect(ws_url(server_url)) as ws:
        ws.send('{"type":"mcp","data":' + body + '}')
        assert json.loads(ws.recv(timeout=10))["data"]["id"] is None
        ws.send('{"type":"mcp","data":{"jsonrpc":"2.0","id":"req-7"}}')
        assert json.loads(ws.recv(timeout=10))["data"]["id"] == "req-7"


@pytest.mark.parametrize("path,body", [
    ("/reset", {"seed": "LEAKME"}),
    ("/reset", {"scenario": "egfr_nsclc_viable", "difficulty": "LEAKME"}),
    ("/reset", {"episode_id": ["LEAKME"]}),
    ("/step", {"action": "LEAKME"}),
    ("/step", {"action": {"action_type": "literature_search"}, "timeout_s": "LEAKME"}),
    ("/step", {"action": {"action_type": "literature_search"}, "request_id": "LEAKME" * 100}),
])
def test_422_never_echoes_the_input(http: httpx.Client, path: str, body: Any) -> None:
    resp = http.post(path, json=body)
    assert resp.status_code == 422 and "LEAKME" not in resp.text, resp.text
    assert all(set(item) == {"loc", "msg", "type"} for item in resp.json()["detail"])


def test_error_items_drop_values_and_always_encode() -> None:
    from drugenv.server.protocol import error_items

    items = error_items([{"loc": ("body", "\ud800" + "k" * 500, 3), "msg": "bad \udc00", "type": "t",
                          "input": float("nan"), "ctx": {"error": ValueError("x")}, "url": "u"}])
    assert items == [{"loc": ["body", "\\ud800" + "k" * 99, "3"], "msg": "bad \\udc00", "type": "t"}]
    json.dumps(items, ensure_ascii=False, allow_nan=False).encode("utf-8")


class _BrokenEnv:
    """An environment whose failures quote hidden values, as an unexpected bug might."""

    def reset(self, **_: Any) -> Any:
        raise RuntimeError("correct_decision=go true_viability=0.93")

    def step(self, _: Any) -> Any:
        raise RuntimeError("correct_decision=go true_viability=0.93")

    def close(self) -> None:
        pass


def test_environment_errors_reach_http_clients_as_a_type_and_a_log_ref() -> None:
    with serve_in_thread(create_app(env_factory=_BrokenEnv, strict_actions=False)) as url:  # type: ignore[arg-type]
        for path, body in (("/reset", {"seed": 1}), ("/step", {"action": {"action_type": "literature_search"}})):
            resp = httpx.post(url + path, json=body, timeout=10)
            assert resp.status_code == 500, resp.text
            assert resp.json()["detail"].startswith("the environment raised RuntimeError (server log ref ")
            assert "correct_decision" not in resp.text and "0.93" not in resp.text


# Lax types a strict action must refuse: (action, error loc). A lax model read `true` as 1.0 and "0.5" as 0.5.
REPORT = {"action_type": "submit_validation_report", "final_decision": "go"}
LAX_ACTIONS = [
    ({**REPORT, "confidence": True}, ["confidence"]),
    ({**REPORT, "confidence": "0.5"}, ["confidence"]),
    ({"action_type": "coexpression_network", "parameters": {"min_score": "0.9"}}, ["parameters", "min_score"]),
    ({"action_type": "coexpression_network", "parameters": {"min_score": True}}, ["parameters", "min_score"]),
    ({"action_type": "clinical_trial_lookup", "parameters": {"min_phase": "2"}}, ["parameters", "min_phase"]),
    ({"action_type": "clinical_trial_lookup", "parameters": {"min_phase": True}}, ["parameters", "min_phase"]),
    ({"action_type": "literature_search", "parameters": {"since_year": "2013"}}, ["parameters", "since_year"]),
    ({"action_type": "binding_site_analysis", "parameters": {"include_allosteric": "true"}},
     ["parameters", "include_allosteric"]),
    ({"action_type": "binding_site_analysis", "parameters": {"include_allosteric": 1}},
     ["parameters", "include_allosteric"]),
]


@pytest.mark.parametrize("action,loc", LAX_ACTIONS, ids=[json.dumps(a)[:90] for a, _ in LAX_ACTIONS])
def test_strict_mode_refuses_lax_types(server_url: str, http: httpx.Client, action: dict[str, Any], loc: list[str]) -> None:
    with connect(ws_url(server_url)) as ws:
        ws.send(json.dumps({"type": "reset", "data": {"seed": 2, "scenario": "egfr_nsclc_viable"}}))
        assert json.loads(ws.recv(timeout=10))["type"] == "observation"
        ws.send(json.dumps({"type": "step", "data": action}))
        reply = json.loads(ws.recv(timeout=10))
        assert (reply["type"], reply["data"]["code"]) == ("error", "VALIDATION_ERROR"), reply
        assert [e["loc"] for e in reply["data"]["errors"]] == [loc], reply
        ws.send(json.dumps({"type": "step", "data": {**REPORT, "confidence": 1}}))  # JSON 1 is the number 1.0
        reply = json.loads(ws.recv(timeout=10))
        assert reply["type"] == "observation" and reply["data"]["done"], reply
    resp = http.post("/step", json={"action": action})
    assert resp.status_code == 422 and [e["loc"] for e in resp.json()["detail"]] == [["body", "action", *loc]], resp.text


@pytest.mark.parametrize("body,loc", [
    ({"action": {"action_type": "literature_search"}, "timeout_s": True}, ["body", "timeout_s"]),
    ({"action": {"action_type": "literature_search"}, "timeout_s": "5"}, ["body", "timeout_s"]),
    ({"seed": "3", "scenario": "egfr_nsclc_viable"}, ["body", "seed"]),
    ({"seed": 2**63, "scenario": "egfr_nsclc_viable"}, ["body", "seed"]),  # past the seed range: 422, not the core's error
])
def test_http_request_fields_are_strict(http: httpx.Client, body: dict[str, Any], loc: list[str]) -> None:
    resp = http.post("/reset" if "seed" in body else "/step", json=body)
    assert resp.status_code == 422 and [e["loc"] for e in resp.json()["detail"]] == [loc], resp.text
    assert http.post("/step", json={"action": {"action_type": "literature_search"}, "timeout_s": 5}).status_code == 409


def test_create_app_refuses_limits_out_of_range_by_name() -> None:
    for kwargs, name in (({"max_sessions": 0}, "max_sessions"), ({"idle_timeout_s": 0.0}, "idle_timeout_s"),
                         ({"idle_timeout_s": float("nan")}, "idle_timeout_s"), ({"env_threads": -1}, "env_threads"),
                         ({"max_message_bytes": 1023}, "max_message_bytes")):
        with pytest.raises(ConfigError, match=f"^{name} must be"):
            create_app(**kwargs)
    create_app(max_message_bytes=1024, idle_timeout_s=None)  # the smallest frame cap, and no idle timeout


def test_a_reply_lists_at_most_ten_errors(http: httpx.Client) -> None:
    """An error reply's size is bounded whatever the request: 15 unknown keys, 10 items."""
    resp = http.post("/reset", json={f"bogus_{i}": i for i in range(15)})
    assert resp.status_code == 422 and len(resp.json()["detail"]) == 10


def test_an_unknown_scenario_over_http_is_a_422_that_names_no_curated_scenario(http: httpx.Client) -> None:
    from drugenv.scenarios import CURATED_NAMES

    from drugenv.scenarios import SCENARIO_NAMES

    resp = http.post("/reset", json={"scenario": "no_such"})
    assert resp.status_code == 422 and "unknown scenario" in resp.text
    assert not any(name in resp.text for name in CURATED_NAMES)
    # ... and names every other one reset takes (it once left out the twin)
    assert all(repr(name) in resp.json()["detail"] for name in SCENARIO_NAMES if name not in CURATED_NAMES)
    for name in SCENARIO_NAMES:
        assert http.post("/reset", json={"scenario": name}).status_code == 200


def test_error_codes_are_specific(server_url: str) -> None:
    cases = [
        ('{"type":"step","data":{"action_type":"literature_search"}}', "NOT_RESET"),
        ('{"type":"reset","data":{"seed":1,"scenario":"egfr_nsclc_viable"}}', None),
        ("{not json", "INVALID_JSON"),
        ('{"type":"step","data":{"action_type":"x"}}', "VALIDATION_ERROR"),
        ('{"type":"step","data":{"action_type":"literature_search","bogus":1}}', "VALIDATION_ERROR"),
        ('{"type":"step","data":{"action_type":"clinical_trial_lookup","parameters":{"min_phase":9}}}', "VALIDATION_ERROR"),
        ('{"type":"step","data":{"action_type":"submit_validation_report","final_decision":"go","confidence":1.5}}',
         "VALIDATION_ERROR"),
        ('{"type":"step","data":{"action_type":"submit_validation_report","final_decision":"go","confidence":NaN}}',
         "INVALID_JSON"),
        ('{"type":"step","data":{"action_type":"literature_search","parameters":{"since_year":Infinity}}}',
         "INVALID_JSON"),
        ('{"type":"launch"}', "UNKNOWN_TYPE"),
        ('{"data":{}}', "UNKNOWN_TYPE"),
        ('{"type":"state","data":{}}', "VALIDATION_ERROR"),
        ('{"type":"step","data":[1]}', "VALIDATION_ERROR"),
        ('"step"', "VALIDATION_ERROR"),
        ('{"type":"reset","data":{"scenario":"no_such"}}', "VALIDATION_ERROR"),
        ('{"type":"reset","data":{"seed":true,"scenario":"egfr_nsclc_viable"}}', "VALIDATION_ERROR"),
        ("[" * 20_000 + "]" * 20_000, "INVALID_JSON"),  # past every supported Python's decoder depth
        ('{"type":"step","data":{"action_type":"literature_search","parameters":{"query":' + "[" * 500 + "]" * 500 + "}}}",
         "VALIDATION_ERROR"),
        ('{"type":"reset","data":{"seed":1,"scenario":"egfr_nsclc_viable"}}', None),
        ('{"type":"step","data":{"action_type":"submit_validation_report","final_decision":"go","confidence":0.9}}', None),
        ('{"type":"step","data":{"action_type":"literature_search"}}', "EPISODE_DONE"),
        # a reset starts the next episode on the same socket (TRL's pool and RemoteEnvironment reuse them)
        ('{"type":"reset","data":{"seed":2,"scenario":"egfr_nsclc_viable"}}', None),
        ('{"type":"step","data":{"action_type":"literature_search"}}', None),
        ('{"type":"mcp","data":[1]}', "VALIDATION_ERROR"),
        ('{"type":"reset","data":{"seed":9223372036854775808}}', "VALIDATION_ERROR"),  # 2**63: past the seed range
    ]
    with connect(ws_url(server_url)) as ws:
        for frame, code in cases:
            ws.send(frame)
            reply = json.loads(ws.recv(timeout=10))
            if code is None:
                assert reply["type"] == "observation", (frame, reply)
            else:
                assert (reply["type"], reply["data"]["code"]) == ("error", code), (frame, reply)
        ws.send(b'{"type":"state"}')  # binary frames carry UTF-8 JSON too
        assert json.loads(ws.recv())["type"] == "state"
        ws.send(b"\xff\xfe")
        assert json.loads(ws.recv())["data"]["code"] == "INVALID_JSON"


def test_penalty_mode_serves_the_environments_penalised_observations() -> None:
    bad = [{"action_type": "nope"}, {"action_type": "query_expression", "parameters": {"database": "x"}},
           {"action_type": "submit_validation_report"}, {"action_type": "literature_search", "bogus": 1},
           {"action_type": "submit_validation_report", "final_decision": "no_go", "confidence": 0.8},
           {"action_type": "literature_search"}]
    env = DrugTargetEnvironment()
    env.reset(seed=4, scenario="tp53_solid_tumors_clear_fail")
    expected = [json.loads(env.step(a).model_dump_json()) for a in bad]
    with serve_in_thread(create_app(strict_actions=False)) as url, DrugTargetEnv(base_url=url) as client:
        client.reset(seed=4, scenario="tp53_solid_tumors_clear_fail")
        got = [json.loads(client.step(a).observation.model_dump_json()) for a in bad]
    assert got == expected
    assert got[0]["rule_violations"][0]["rule"] == "invalid_action"
    assert got[-1]["rule_violations"][0]["rule"] == "episode_done"


def test_penalty_mode_escapes_text_utf8_cannot_encode() -> None:
    """An unparseable model reply quoting a lone surrogate is a penalised observation, and the episode's
    later observations (whose history quotes it) still reach the client."""
    unparseable = '{"type":"step","data":{"action_type":"__unparseable__","reasoning":"bad \\ud800"}}'
    with serve_in_thread(create_app(strict_actions=False)) as url, connect(ws_url(url)) as ws:
        ws.send(json.dumps({"type": "reset", "data": {"seed": 1, "scenario": "egfr_nsclc_viable"}}))
        assert json.loads(ws.recv(timeout=10))["type"] == "observation"
        ws.send(unparseable)
        reply = json.loads(ws.recv(timeout=10))
        assert reply["type"] == "observation", reply
        assert reply["data"]["observation"]["rule_violations"][0]["message"] == "bad \\ud800"
        ws.send(json.dumps({"type": "step", "data": {"action_type": "query_expression"}}))
        reply = json.loads(ws.recv(timeout=10))
        assert reply["type"] == "observation" and reply["data"]["observation"]["step_count"] == 2, reply


def _active(url: str) -> int:
    return httpx.get(url + "/health", timeout=5).json()["active_sessions"]


def _wait_active(url: str, n: int, timeout_s: float = 30.0) -> None:
    # 30 s: uvicorn before 0.55 (0.29-0.35 measured) frees a session ~10 s after a close for an oversized frame
    deadline = time.monotonic() + timeout_s
    while _active(url) != n:
        assert time.monotonic() < deadline, f"active_sessions stuck at {_active(url)}, expected {n}"
        time.sleep(0.05)


def test_oversized_frames() -> None:
    with serve_in_thread(create_app(max_message_bytes=4096)) as url:
        with connect(ws_url(url), max_size=None) as ws:
            ws.send(json.dumps({"type": "reset", "data": {"seed": 0, "scenario": "egfr_nsclc_viable"}}))
            assert json.loads(ws.recv())["type"] == "observation"
            ws.send(json.dumps({"type": "step", "data": {"action_type": "literature_search", "reasoning": "x" * 5000}}))
            assert json.loads(ws.recv())["data"]["code"] == "MESSAGE_TOO_LARGE"
            # ~2.2k characters, ~4.3k bytes: the cap counts bytes (json.dumps would escape each é as 6 ASCII characters)
            ws.send(json.dumps({"type": "step", "data": {"action_type": "literature_search", "reasoning": "é" * 2100}},
                               ensure_ascii=False))
            assert json.loads(ws.recv())["data"]["code"] == "MESSAGE_TOO_LARGE"
        with connect(ws_url(url), max_size=None) as ws:
            # Above uvicorn's ws_max_size: cut at the protocol level. The server closes (1009) as soon
            # as it reads the frame's header, while the 2 MiB payload may still be going out: the close
            # then surfaces in send(), and the TCP reset that the unread payload causes can overtake
            # the close frame (rcvd None). Either way the connection ends and the server lives on.
            with pytest.raises(ConnectionClosed) as closed:
                ws.send("x" * (2 << 20))
                ws.recv(timeout=10)
            assert closed.value.rcvd is None or closed.value.rcvd.code == 1009
        _wait_active(url, 0)
        assert httpx.post(url + "/reset", content=b"{" + b" " * 5000 + b"}").status_code == 413
        with DrugTargetEnv(base_url=url) as client:
            assert client.reset(seed=0, scenario="egfr_nsclc_viable").observation.step_count == 0


def _masked_frame(text: str) -> bytes:
    """A client's text frame as RFC 6455 writes it (masked), for a socket driven by hand."""
    import os
    import struct

    payload, mask = text.encode(), os.urandom(4)
    n = len(payload)
    size = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n)
    return bytes([0x81]) + size + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _session_that_reads_nothing(url: str) -> socket.socket:
    """A raw, non-blocking socket holding a /ws session of the server at ``url``, with a receive buffer small
    enough (set before connecting, so the window it offers stays small) to fill with a few replies."""
    import base64
    import os
    from urllib.parse import urlsplit

    where = urlsplit(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((where.hostname, where.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {where.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    _wait_active(url, 1)
    sock.setblocking(False)
    return sock


def test_a_client_that_never_reads_its_replies_loses_its_slot() -> None:
    """A client that sent frames and never read a reply held its slot for as long as the server ran: the
    session waited in a send that never ended (the idle timeout and the keepalive wait on reads and pings,
    so neither freed it), and 256 such sockets locked every other client out. A reply that cannot be sent
    for send_timeout_s now ends the session."""
    with serve_in_thread(create_app(max_sessions=1, idle_timeout_s=None, send_timeout_s=1.0)) as url:
        sock = _session_that_reads_nothing(url)
        try:
            reset = _masked_frame(json.dumps({"type": "reset", "data": {"seed": 1}}))
            refused_since = None  # the kernel takes no more: the server has stopped reading, stuck in a send
            while refused_since is None or time.monotonic() - refused_since < 0.5:
                try:
                    sock.send(reset)
                    refused_since = None
                except BlockingIOError:
                    refused_since = refused_since or time.monotonic()
                    time.sleep(0.02)
            _wait_active(url, 0, timeout_s=15.0)
            with DrugTargetEnv(base_url=url) as client:  # the slot is free for a client that reads
                assert client.reset(seed=0, scenario="egfr_nsclc_viable").observation.step_count == 0
        finally:
            sock.close()
    for bad in (0, -1.0, float("nan"), float("inf"), "30", True):
        with pytest.raises(ConfigError, match="send_timeout_s"):
            create_app(send_timeout_s=bad)


@pytest.mark.skipif(not hasattr(socket, "TCP_USER_TIMEOUT"), reason="TCP_USER_TIMEOUT is Linux's")
def test_the_connection_of_a_client_that_never_reads_is_reset_too() -> None:
    """Under uvicorn the session of a client that stopped reading ended after send_timeout_s, but its connection
    stayed open for good (ESTABLISHED, MBs queued): each kept a file descriptor and kernel buffers, which
    --max-sessions no longer bounded. The listening socket's TCP_USER_TIMEOUT now makes the kernel reset it."""
    from drugenv.server.serve import Args

    tcp_state_established = 1  # tcpi_state, the first byte of struct tcp_info
    with serve_in_thread(create_app(max_sessions=1, idle_timeout_s=None, send_timeout_s=1.0),
                         Args(port=0, send_timeout_s=1.0)) as url:
        sock = _session_that_reads_nothing(url)
        try:
            reset = _masked_frame(json.dumps({"type": "reset", "data": {"seed": 1}}))
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # until the kernel takes no more (the server is stuck in a send)
                try:
                    sock.send(reset)
                except OSError:  # BlockingIOError, or a reset already
                    break
            state = tcp_state_established
            while state == tcp_state_established and time.monotonic() < deadline:
                time.sleep(0.1)
                state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
            assert state != tcp_state_established, "the server kept the stalled connection open"
        finally:
            sock.close()


def test_a_web_page_of_another_origin_cannot_open_a_session() -> None:
    """Browsers let any page open a WebSocket to 127.0.0.1 (the same-origin policy does not cover them), so any
    site a user visited could hold this server's sessions and play episodes."""
    from urllib.parse import urlsplit

    from websockets.exceptions import InvalidStatus

    with serve_in_thread(create_app(max_sessions=2)) as url:
        host = urlsplit(url).netloc
        for origin in ("http://evil.example", "null", f"http://{host}.evil.example"):
            with pytest.raises(InvalidStatus) as refused:
                connect(ws_url(url), origin=origin, open_timeout=10)
            assert refused.value.response.status_code == 403, origin
        for origin in (None, f"http://{host}"):  # a program's handshake, and a page of the server itself
            with connect(ws_url(url), origin=origin, open_timeout=10) as ws:
                ws.send(json.dumps({"type": "reset", "data": {"seed": 0, "scenario": "egfr_nsclc_viable"}}))
                assert json.loads(ws.recv(timeout=10))["type"] == "observation"
        _wait_active(url, 0)


def test_a_page_rebound_to_a_loopback_server_is_refused_by_its_host_name(monkeypatch) -> None:
    """DNS rebinding: a page whose own name a DNS server points at 127.0.0.1 is, to the browser, of the server's
    origin, so its handshake (Origin and Host both evil.example:PORT) passed the Origin check, and its HTTP calls
    were answered. A server bound to loopback now answers to loopback names only, over HTTP and /ws."""
    from urllib.parse import urlsplit

    from fastapi.testclient import TestClient

    from drugenv.server.hosts import LOOPBACK_NAMES
    from drugenv.server.serve import WORKER_ARGS_ENV_VAR, Args, make_app, settings_from_environment

    with serve_in_thread(create_app(max_sessions=2, allowed_hosts=LOOPBACK_NAMES)) as url:
        port = urlsplit(url).port
        for host in (f"evil.example:{port}", f"127.0.0.1.evil.example:{port}", "testserver", ""):
            assert handshake_status(url, host, origin=f"http://{host}") == 421, host
            for reply in (httpx.get(url + "/health", headers={"host": host}),
                          httpx.post(url + "/reset", json={"seed": 0}, headers={"host": host})):
                assert reply.status_code == 421 and "127.0.0.1, ::1, localhost" in reply.json()["detail"], host
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST"):
            assert handshake_status(url, host, origin=f"http://{host}") == 101, host
            assert httpx.get(url + "/health", headers={"host": host}).status_code == 200, host
        _wait_active(url, 0)

    def answers(app: Any, host: str) -> bool:
        with TestClient(app) as c:
            return c.get("/health", headers={"host": host}).status_code == 200

    assert not answers(make_app(Args(host="127.0.0.1")), "evil.example")
    assert answers(make_app(Args(host="192.0.2.1")), "evil.example")  # a shared interface (TEST-NET): reached under names it cannot know
    assert answers(make_app(Args(host="127.0.0.1", allowed_hosts=("*",))), "evil.example")  # behind a reverse proxy
    named = make_app(Args(host="192.0.2.1", allowed_hosts=("drugenv.lan",)))
    assert answers(named, "drugenv.lan:8000") and not answers(named, "evil.example")
    # --workers N: each worker reads the settings from the environment, the host among them.
    monkeypatch.setenv(WORKER_ARGS_ENV_VAR, json.dumps({"host": "127.0.0.1", "port": 8000}))
    assert not answers(make_app(settings_from_environment()), "evil.example")
    monkeypatch.delenv(WORKER_ARGS_ENV_VAR)  # uvicorn drugenv.server.asgi:app: the bound interface is unknown here
    assert answers(make_app(settings_from_environment()), "evil.example")


def test_capacity() -> None:
    with serve_in_thread(create_app(max_sessions=3, idle_timeout_s=None)) as url:
        clients = [DrugTargetEnv(base_url=url) for _ in range(3)]
        for i, c in enumerate(clients):
            c.reset(seed=i, scenario="egfr_nsclc_viable")
        with connect(ws_url(url)) as ws:
            reply = json.loads(ws.recv(timeout=5))
            assert reply["data"]["code"] == "CAPACITY_REACHED" and reply["data"]["max_sessions"] == 3
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd.code == 1013  # "try again later": what a generic client backs off on
        with pytest.raises(CapacityReachedError):
            DrugTargetEnv(base_url=url).reset(seed=9, scenario="egfr_nsclc_viable")
        clients[0].close()
        _wait_active(url, 2)
        clients[0].reset(seed=5, scenario="egfr_nsclc_viable")  # the freed slot is usable again
        for c in clients:
            c.close()
        _wait_active(url, 0)


def test_idle_timeout_closes_the_session_and_frees_its_slot() -> None:
    with serve_in_thread(create_app(max_sessions=2, idle_timeout_s=2.0)) as url:
        client = DrugTargetEnv(base_url=url)
        client.reset(seed=1, scenario="egfr_nsclc_viable")
        with connect(ws_url(url)) as ws:
            ws.send(json.dumps({"type": "reset", "data": {"seed": 5, "scenario": "egfr_nsclc_viable"}}))
            assert json.loads(ws.recv(timeout=5))["type"] == "observation"
            assert json.loads(ws.recv(timeout=10))["data"]["code"] == "IDLE_TIMEOUT"
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
        _wait_active(url, 0)
        with pytest.raises(EnvConnectionError):  # the IDLE_TIMEOUT frame (SessionEndedError), or the closed socket
            client.step({"action_type": "literature_search"})
        assert client.reset(seed=1, scenario="egfr_nsclc_viable").observation.step_count == 0  # reconnects
        client.close()


def test_reset_after_the_server_ended_the_session_opens_a_new_one() -> None:
    """TRL calls reset() with no try around it: a pooled client idle past --idle-timeout-s between
    generation phases failed with a plain EnvServerError (IDLE_TIMEOUT) and ended the training run."""
    from drugenv.client import SessionEndedError

    with serve_in_thread(create_app(max_sessions=2, idle_timeout_s=2.0)) as url:
        first = DrugTargetEnv(base_url=url)
        first.reset(seed=1, scenario="egfr_nsclc_viable")
        second = DrugTargetEnv(base_url=url)
        second.reset(seed=1, scenario="egfr_nsclc_viable")
        _wait_active(url, 0)
        with pytest.raises(EnvConnectionError) as err:
            first.step({"action_type": "literature_search"})
        assert not isinstance(err.value, EnvServerError) or isinstance(err.value, SessionEndedError)
        again = second.reset(seed=2, scenario="egfr_nsclc_viable")  # the first call on the ended session
        assert again.observation.step_count == 0 and again.observation.metadata["seed"] == 2
        assert second.step({"action_type": "literature_search"}).observation.step_count == 1
        first.close()
        second.close()


def test_the_async_client_also_opens_a_new_session_on_reset_after_the_server_ended_one() -> None:
    import asyncio

    from drugenv.client import AsyncDrugTargetEnv

    async def play(url: str) -> None:
        async with AsyncDrugTargetEnv(base_url=url) as env:
            await env.reset(seed=1, scenario="egfr_nsclc_viable")
            await asyncio.to_thread(_wait_active, url, 0)  # the idle timeout ended the session
            again = await env.reset(seed=2, scenario="egfr_nsclc_viable")
            assert again.observation.step_count == 0 and again.observation.metadata["seed"] == 2
            assert (await env.step({"action_type": "literature_search"})).observation.step_count == 1

    with serve_in_thread(create_app(max_sessions=2, idle_timeout_s=1.0)) as url:
        asyncio.run(play(url))


def test_the_idle_timeout_counts_from_the_last_frame_not_from_the_start() -> None:
    """A session that keeps talking outlives idle_timeout_s many times over; one that falls silent is closed."""
    with serve_in_thread(create_app(max_sessions=2, idle_timeout_s=1.5)) as url:
        with connect(ws_url(url)) as ws:
            start = time.monotonic()
            while time.monotonic() - start < 4.5:  # three idle timeouts, a frame every 0.3 s
                ws.send('{"type":"state"}')
                assert json.loads(ws.recv(timeout=5))["type"] == "state"
                time.sleep(0.3)
            assert json.loads(ws.recv(timeout=10))["data"]["code"] == "IDLE_TIMEOUT"


def test_a_reply_timeout_drops_the_socket_and_reset_is_not_sent_again() -> None:
    """A reset whose reply timed out raises EnvConnectionError once: resending it would wait as long
    again (the server slow, not the session gone), for the sync and the async client."""
    import asyncio

    from drugenv.client import AsyncDrugTargetEnv

    resets = []
    # The slow reset is held until the client has given up (no clock to race on a loaded box): a client that
    # waited for the whole reset would raise only after the hold gave up, 30 s on.
    release, hold_over = threading.Event(), threading.Event()
    timeout_s = 1.0

    class SlowReset(DrugTargetEnvironment):
        def reset(self, *args, **kwargs):
            resets.append(kwargs.get("seed"))
            if kwargs.get("seed") == 2:
                release.wait(timeout=30)
                hold_over.set()
            return super().reset(*args, **kwargs)

    async def play_async(url: str) -> None:
        env = AsyncDrugTargetEnv(base_url=url, message_timeout_s=timeout_s)
        await env.reset(seed=1, scenario="egfr_nsclc_viable")
        with pytest.raises(EnvConnectionError, match="no reply"):
            await env.reset(seed=2, scenario="egfr_nsclc_viable")
        assert not hold_over.is_set()
        release.set()
        await env.close()

    with serve_in_thread(create_app(env_factory=SlowReset, max_sessions=4)) as url:
        env = DrugTargetEnv(base_url=url, message_timeout_s=timeout_s)
        env.reset(seed=1, scenario="egfr_nsclc_viable")
        with pytest.raises(EnvConnectionError, match="no reply"):
            env.reset(seed=2, scenario="egfr_nsclc_viable")
        assert not hold_over.is_set(), "the client waited for the whole slow reset"
        release.set()
        env.close()
        assert hold_over.wait(10)  # the slow reset finishes on the server
        release.clear()
        hold_over.clear()
        asyncio.run(play_async(url))
        assert hold_over.wait(10)
    assert resets == [1, 2, 1, 2]


def test_an_interrupted_call_never_hands_its_reply_to_the_next() -> None:
    """A caller's own wait_for cancelled step() after its frame was sent: the reply stayed queued and
    the next reset() returned it (the old step's observation, seed 1) as its own."""
    import asyncio

    from drugenv.client import AsyncDrugTargetEnv

    class SlowStep(DrugTargetEnvironment):  # a reply that is surely still on its way when the caller gives up
        def step(self, action, **kwargs):
            time.sleep(0.2)
            return super().step(action, **kwargs)

    async def play(url: str) -> None:
        env = AsyncDrugTargetEnv(base_url=url)
        await env.reset(seed=1, scenario="egfr_nsclc_viable")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(env.step({"action_type": "literature_search"}), timeout=0.05)
        got = await env.reset(seed=2, scenario="egfr_nsclc_viable")
        assert got.observation.metadata["seed"] == 2 and got.observation.step_count == 0
        assert (await env.state()).step_count == 0
        await env.close()

    with serve_in_thread(create_app(env_factory=SlowStep, max_sessions=4)) as url:
        asyncio.run(play(url))


@pytest.mark.parametrize("confidence", [float("nan"), np.float32("nan"), np.float16("-inf")], ids=repr)
def test_a_nan_in_a_dict_action_is_judged_as_in_process(confidence: Any) -> None:
    """JSON has no NaN: sent bare, the server refused the frame (INVALID_JSON) and took no step, where the
    in-process environment penalises it. A numpy one (a policy's float32 output) was still sent bare. Sent
    as the text "nan" it failed the schema as a string would, a violation message the in-process environment
    does not give (the wire audit); sent as 1e400 the observation is the in-process one, byte for byte."""
    from drugenv.client import InvalidRequestError

    action = {"action_type": "submit_validation_report", "final_decision": "go", "confidence": confidence}
    local = DrugTargetEnvironment()
    local.reset(seed=1, scenario="egfr_nsclc_viable")
    expected = local.step(dict(action))
    with serve_in_thread(create_app(strict_actions=False)) as url, DrugTargetEnv(base_url=url) as env:
        env.reset(seed=1, scenario="egfr_nsclc_viable")
        got = env.step(dict(action)).observation
        assert got.model_dump_json() == expected.model_dump_json()
    with serve_in_thread(create_app()) as url, DrugTargetEnv(base_url=url) as env:  # strict: refused, named
        env.reset(seed=1, scenario="egfr_nsclc_viable")
        with pytest.raises(InvalidRequestError) as err:
            env.step(dict(action))
        assert err.value.code == "VALIDATION_ERROR" and "confidence" in json.dumps(err.value.data["errors"])


def test_an_error_frames_reasons_are_read_whatever_their_shape() -> None:
    """Another server's frame may write a location as a string, or put non-dicts in its list."""
    errors = [{"loc": "seed", "msg": "bad"}, "junk", {"loc": ["a", 1], "msg": "m2"}, {"msg": "no place"}, {"loc": ["x"], "msg": "4th"}]
    assert str(EnvServerError("X", "m", {"errors": errors})) == "m: seed: bad; a.1: m2 (+2 more) (code: X)"
    assert str(EnvServerError("X", "m", {"errors": [{"msg": "no place"}]})) == "m: frame: no place (code: X)"
    # a bare number was a TypeError from the client, in place of the error the frame stood for
    assert str(EnvServerError("X", "m", {"errors": [{"loc": 5, "msg": "bad"}, {"loc": True, "msg": "b"}]})) == \
        "m: 5: bad; True: b (code: X)"
    for data in ({}, {"errors": "text"}, {"errors": []}, {"errors": ["junk"]}):
        assert str(EnvServerError("X", "m", data)) == "m (code: X)", data


def test_a_refused_frame_says_why_in_its_message() -> None:
    """The client's exception said only "invalid action (code: VALIDATION_ERROR)" or "invalid reset arguments",
    the reason kept in ``data``; its text now names the field and the rule, and the error still pickles."""
    import pickle

    from drugenv.client import InvalidRequestError

    cases = [({"action_type": "query_expression", "parameters": {"database": "nope"}}, "parameters.database: Input should be 'GTEx'"),
             ({"action_type": "submit_validation_report", "final_decision": "go", "confidence": 1.7},
              "confidence: Input should be less than or equal to 1"),
             ({"action_type": "fly_to_moon"}, "action_type: Input should be 'query_expression'")]
    with serve_in_thread(create_app()) as url, DrugTargetEnv(base_url=url) as env:
        for action, words in cases:
            env.reset(seed=1, scenario="egfr_nsclc_viable")
            with pytest.raises(InvalidRequestError) as err:
                env.step(action)
            assert str(err.value).startswith(f"invalid action: {words}") and str(err.value).endswith("(code: VALIDATION_ERROR)")
            assert err.value.message == "invalid action" and env.state().step_count == 0  # refused, nothing taken
        with pytest.raises(InvalidRequestError, match=r"^invalid reset arguments: seed: Input should be greater than or equal to 0") as err:
            env.reset(seed=-1)
        again = pickle.loads(pickle.dumps(err.value))
        assert (type(again), str(again), again.code, again.data) == (InvalidRequestError, str(err.value), err.value.code, err.value.data)


@pytest.mark.parametrize("kwargs", [{"max_sessions": 0}, {"idle_timeout_s": 0}, {"idle_timeout_s": float("nan")},
                                    {"max_message_bytes": 10},
                                    {"env_threads": -1}])
def test_create_app_rejects_bad_limits(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        create_app(**kwargs)
