"""``drugenv serve-env --asgi-server granian``: the app under granian keeps its limits and refuses what it
cannot do. (The conformance, bad-input and TRL tests run under both servers through ``server_url``;
``test_workers`` runs two granian workers and checks that a busy port is refused.)"""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from drugenv.client import DrugTargetEnv
from drugenv.errors import ConfigError
from drugenv.server.serve import Args, check_args

from .conftest import serve_in_process, ws_url
from .test_bad_input import _wait_active


def test_frames_over_the_cap_get_an_error_frame_and_huge_ones_close_only_their_connection() -> None:
    with serve_in_process("--asgi-server", "granian", "--max-message-bytes", "4096", "--max-sessions", "4") as (url, _):
        with connect(ws_url(url), max_size=None) as ws:
            ws.send(json.dumps({"type": "reset", "data": {"seed": 0, "scenario": "egfr_nsclc_viable"}}))
            assert json.loads(ws.recv())["type"] == "observation"
            ws.send(json.dumps({"type": "step", "data": {"action_type": "literature_search", "reasoning": "x" * 5000}}))
            assert json.loads(ws.recv())["data"]["code"] == "MESSAGE_TOO_LARGE"
            # The session goes on after the refused frame.
            ws.send(json.dumps({"type": "step", "data": {"action_type": "literature_search"}}))
            reply = json.loads(ws.recv())
            assert reply["type"] == "observation" and reply["data"]["observation"]["step_count"] == 1
        with connect(ws_url(url), max_size=None) as ws:
            # Above tungstenite's 16 MiB frame limit: granian closes the connection (no error frame).
            with pytest.raises(ConnectionClosed):
                ws.send("x" * (17 << 20))
                ws.recv(timeout=10)
        _wait_active(url, 0)  # the closed session's slot is freed
        assert httpx.post(url + "/reset", content=b"{" + b" " * 5000 + b"}").status_code == 413
        with DrugTargetEnv(base_url=url) as client:
            assert client.reset(seed=0, scenario="egfr_nsclc_viable").observation.step_count == 0


def test_granian_refuses_compression_and_unknown_servers() -> None:
    with pytest.raises(ConfigError, match="--ws-compression needs --asgi-server uvicorn"):
        check_args(Args(asgi_server="granian", ws_compression=True))
    with pytest.raises(ConfigError, match="--asgi-server must be one of uvicorn, granian"):
        check_args(Args(asgi_server="hypercorn"))  # type: ignore[arg-type]
    check_args(Args(asgi_server="granian"))
