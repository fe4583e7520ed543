"""The client against a server that answers what DrugEnv's never would: every reply it cannot read is an
``EnvServerError`` with code ``PROTOCOL`` (json's, pydantic's and Python's own errors escaped before),
from the sync and the async client alike."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Iterator

import numpy as np
import pytest
from websockets.sync.server import ServerConnection, serve

from drugenv.client import (
    AsyncDrugTargetEnv,
    CapacityReachedError,
    DrugTargetEnv,
    EnvServerError,
    InvalidRequestError,
    SessionEndedError,
)
from drugenv.errors import ConfigError
from drugenv.server.protocol import ErrorCode
from drugenv.simulator.environment import DrugTargetEnvironment

GOOD = json.loads(DrugTargetEnvironment().reset(seed=0, scenario="egfr_nsclc_viable").model_dump_json())


def _observation_frame(**changes: object) -> str:
    data = {"observation": {k: v for k, v in GOOD.items() if k not in ("reward", "done")}, "reward": None, "done": False,
            "metadata": {}}
    data.update(changes)
    return json.dumps({"type": "observation", "data": data})


# path -> the reply to every frame the client sends
REPLIES = {
    "text": "hello",
    "nan": '{"type": "observation", "data": {"reward": NaN}}',
    "list": "[1, 2]",
    "null": "null",
    "empty_observation": '{"type": "observation", "data": {}}',
    "observation_is_a_list": _observation_frame(observation=[1, 2]),
    "reward_is_text": _observation_frame(reward="lots"),
    "done_is_text": _observation_frame(done="no"),  # bool("no") was True
    "metadata_is_text": _observation_frame(metadata="abc"),
    "credits_are_text": _observation_frame(observation={**GOOD, "credits_remaining": "many"}),
}
UNREADABLE = sorted(REPLIES)
# The client's exception tree, by the server's error code (drugenv.client's docstring): a refused request leaves
# the session usable (RemoteEnvironment turns it into a violation), an ended session is a connection error.
ERROR_CLASSES = {
    "VALIDATION_ERROR": InvalidRequestError, "INVALID_JSON": InvalidRequestError, "UNKNOWN_TYPE": InvalidRequestError,
    "MESSAGE_TOO_LARGE": InvalidRequestError, "NOT_RESET": InvalidRequestError, "EPISODE_DONE": InvalidRequestError,
    "IDLE_TIMEOUT": SessionEndedError, "SESSION_ERROR": SessionEndedError, "FACTORY_ERROR": SessionEndedError,
    "CAPACITY_REACHED": CapacityReachedError, "EXECUTION_ERROR": EnvServerError,
}
for _code in ERROR_CLASSES:
    REPLIES[f"error_{_code}"] = json.dumps({"type": "error", "data": {"code": _code, "message": "told"}})
REPLIES["bad_state"] = json.dumps({"type": "state", "data": {"step_count": "many"}})
REPLIES["good"] = _observation_frame()


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    def handler(ws: ServerConnection) -> None:
        reply = REPLIES[ws.request.path.strip("/").split("/")[0]]
        for _ in ws:
            ws.send(reply)

    with serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.socket.getsockname()[1]}"
        server.shutdown()
    thread.join(timeout=5)


@pytest.mark.parametrize("mode", UNREADABLE)
def test_an_unreadable_reply_is_a_protocol_error(fake_url: str, mode: str) -> None:
    with DrugTargetEnv(base_url=f"{fake_url}/{mode}", message_timeout_s=10) as env:
        with pytest.raises(EnvServerError) as err:
            env.reset(seed=0)
    assert err.value.code == "PROTOCOL", err.value

    async def play() -> None:
        async with AsyncDrugTargetEnv(base_url=f"{fake_url}/{mode}", message_timeout_s=10) as env:
            await env.reset(seed=0)

    with pytest.raises(EnvServerError) as err:
        asyncio.run(play())
    assert err.value.code == "PROTOCOL", err.value


def test_each_error_code_raises_its_class_of_the_exception_tree(fake_url: str) -> None:
    assert set(ERROR_CLASSES) == {c.value for c in ErrorCode}
    for code, cls in ERROR_CLASSES.items():
        with DrugTargetEnv(base_url=f"{fake_url}/error_{code}", message_timeout_s=10) as env:
            with pytest.raises(EnvServerError) as err:
                env.reset(seed=0)
        assert type(err.value) is cls and err.value.code == code, (code, err.value)


def test_a_state_reply_of_the_wrong_shape_is_a_protocol_error(fake_url: str) -> None:
    with DrugTargetEnv(base_url=f"{fake_url}/bad_state", message_timeout_s=10) as env:
        with pytest.raises(EnvServerError, match="state does not match") as err:
            env.state()
    assert err.value.code == "PROTOCOL"


def test_a_well_formed_reply_still_reads(fake_url: str) -> None:
    with DrugTargetEnv(base_url=f"{fake_url}/good", message_timeout_s=10) as env:
        result = env.reset(seed=0)
    assert result.observation.target_gene == "EGFR" and result.done is False and result.reward is None


def test_an_action_json_cannot_hold_is_a_type_error_before_anything_is_sent():
    """A cycle or a very deep dict was a RecursionError from the NaN fallback (which re-encoded every failure)."""
    from drugenv.client import _step_frame

    cyclic = {"action_type": "query_expression"}
    cyclic["self"] = cyclic
    with pytest.raises(TypeError, match="Circular reference"):
        _step_frame(cyclic)
    deep: object = 1
    for _ in range(5000):
        deep = {"a": deep}
    try:  # Python 3.13's encoder writes 5,000 levels; older ones hit the recursion limit
        frame = _step_frame({"action_type": "query_expression", "parameters": deep})
    except TypeError as e:
        assert "nested too deeply" in str(e)
    else:
        assert frame.startswith('{"type": "step"')
    assert '"confidence": 1e400' in _step_frame({"action_type": "submit_validation_report", "confidence": float("nan")})


def test_every_non_finite_real_number_in_a_dict_action_is_sent_as_an_overflowing_number():
    """A numpy NaN (float32, float16: not Python floats) went out as a bare ``NaN``, which the server refuses
    unread (INVALID_JSON) where the in-process environment judges the field; nested ones too. Sent as the text
    "nan" it was judged as a string, another violation message than in process (the wire audit)."""
    from drugenv.client import _step_frame

    action = {"action_type": "submit_validation_report", "confidence": np.float32("nan"),
              "parameters": {"a": [np.float16("inf"), {"b": np.float32("-inf")}], "c": np.array([0.5, np.nan]),
                             "d": np.longdouble("nan"), "e": np.float32(0.25)}}
    sent = json.loads(_step_frame(action))["data"]  # json.loads would read a bare NaN: the text is checked too
    inf = float("inf")
    assert sent == {"action_type": "submit_validation_report", "confidence": inf,
                    "parameters": {"a": [inf, {"b": -inf}], "c": [0.5, inf], "d": inf, "e": 0.25}}
    assert "NaN" not in _step_frame(action) and "Infinity" not in _step_frame(action)


@pytest.mark.parametrize("base_url, expected", [
    ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/ws"),
    ("http://127.0.0.1:8000/", "ws://127.0.0.1:8000/ws"),
    ("http://127.0.0.1:8000/ws", "ws://127.0.0.1:8000/ws"),
    ("http://127.0.0.1:8000/ws/", "ws://127.0.0.1:8000/ws"),
    ("ws://h:1", "ws://h:1/ws"),
    ("wss://h", "wss://h/ws"),
    ("https://h", "wss://h/ws"),
    ("https://h/drugenv/", "wss://h/drugenv/ws"),
    ("http://h/news", "ws://h/news/ws"),
    ("http://[::1]:8000/ws", "ws://[::1]:8000/ws"),
    ("HTTP://h:1", "ws://h:1/ws"),  # schemes are case-insensitive (RFC 3986 3.1)
    ("Wss://h:1/ws", "wss://h:1/ws"),
    ("http://h:1?token=abc", "ws://h:1/ws?token=abc"),  # was ws://h:1?token=abc/ws
    ("http://h:1/ws?token=abc", "ws://h:1/ws?token=abc"),  # was ws://h:1/ws?token=abc/ws
    ("https://h/p/?a=1&b=2", "wss://h/p/ws?a=1&b=2"),
])
def test_the_websocket_url_puts_ws_on_the_path_and_keeps_the_query(base_url: str, expected: str) -> None:
    from drugenv.client import server_ws_url

    assert server_ws_url(base_url) == expected


@pytest.mark.parametrize("base_url, words", [
    ("ftp://h:1", "must start with"), ("127.0.0.1:8000", "must start with"), ("http://", "has no host"),
    ("http://h:1#frag", "fragment"), ("http://h:1/?token=a#b", "%23"),
    # urllib's own ValueErrors, once a bare traceback from drugenv run-agent --base-url (after the model loaded)
    ("http://[::1", "not a URL the client can connect to \\(Invalid IPv6 URL\\)"),
    ("http://h:abc", "Port could not be cast to integer"), ("http://h:99999", "Port out of range"),
])
def test_a_base_url_the_client_cannot_use_is_refused_when_the_client_is_made(base_url: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):  # a ValueError too, as it always was
        DrugTargetEnv(base_url)


def test_a_query_in_the_base_url_reaches_the_server_after_the_path(fake_url: str) -> None:
    """The fake server picks its reply by the first path segment: with the query glued to it ("good?token=abc")
    it knew no such reply and dropped the connection."""
    with DrugTargetEnv(base_url=f"{fake_url}/good?token=abc", message_timeout_s=10) as env:
        assert env.reset(seed=0).observation.target_gene == "EGFR"
