"""A request body that stalls mid-way gets 408 and its connection is closed (``BODY_TIMEOUT_S``): before, a client
that declared ``Content-Length: 1000``, sent 10 bytes and stalled held its request open as long as its socket
lived (a task and a file descriptor under uvicorn, a ``max_ongoing_requests`` slot under Ray Serve: ~20 of them
locked an environment replica out). Bodies that arrive in time, the 413 cap, and disconnects are unchanged."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from typing import Any, Iterator

import httpx
import pytest

from drugenv.errors import ConfigError
from drugenv.server.app import BODY_TIMEOUT_S, _BodyLimit, create_app, harden_json_api
from drugenv.server.serve import serve_in_thread

STALLED_HEAD = (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n{\"seed\":  ")  # 10 of the 1000 declared bytes


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _read_until_closed(sock: socket.socket, limit_s: float) -> tuple[bytes, bool]:
    """What the server sends on ``sock`` within ``limit_s``, and whether it closed the connection by then."""
    sock.settimeout(limit_s)
    data, deadline = b"", time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
        sock.settimeout(max(0.01, deadline - time.monotonic()))
    return data, False


def _check_408(reply: bytes, closed: bool, limit: str) -> None:
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), reply[:300]
    assert b"connection: close" in head.lower(), head
    detail = json.loads(body)["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    assert f"{limit}-second limit" in detail and "10 of the 1000 declared bytes" in detail, detail
    assert closed, "the server kept the connection of a stalled body open"


@contextlib.contextmanager
def _stalled(url: str, path: bytes = b"/reset") -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", _port(url)), timeout=10) as sock:
        sock.sendall(STALLED_HEAD % path)
        yield sock


@contextlib.contextmanager
def _uvicorn(app: Any, http: str) -> Iterator[str]:
    """``app`` under uvicorn with the HTTP/1.1 parser ``http`` (h11 or httptools) on 127.0.0.1."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, http=http, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def test_a_stalled_body_gets_408_and_its_connection_closes_while_others_are_served() -> None:
    with serve_in_thread(create_app(body_timeout_s=0.5)) as url:
        with _stalled(url) as sock:
            # While it stalls, other connections are served.
            assert httpx.get(url + "/health", timeout=5).status_code == 200
            t = time.monotonic()
            reply, closed = _read_until_closed(sock, 5)
            assert time.monotonic() - t < 4
            _check_408(reply, closed, "0.5")
        assert httpx.get(url + "/health", timeout=5).json()["status"] == "healthy"
        r = httpx.post(url + "/reset", json={"seed": 0, "scenario": "egfr_nsclc_viable"}, timeout=10)
        assert r.status_code == 200 and r.json()["observation"]["step_count"] == 0


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_both_uvicorn_parsers_close_the_connection_after_the_408(http: str) -> None:
    pytest.importorskip(http)
    with _uvicorn(create_app(body_timeout_s=0.3), http) as url:
        with _stalled(url) as sock:
            reply, closed = _read_until_closed(sock, 5)
            _check_408(reply, closed, "0.3")
        # Many at once: each is answered and dropped, and nothing is left held.
        socks = [socket.create_connection(("127.0.0.1", _port(url)), timeout=10) for _ in range(20)]
        try:
            for s in socks:
                s.sendall(STALLED_HEAD % b"/reset")
            for s in socks:
                _check_408(*_read_until_closed(s, 5), "0.3")
        finally:
            for s in socks:
                s.close()
        assert httpx.get(url + "/health", timeout=5).status_code == 200


def test_a_slow_body_that_arrives_in_time_is_served_and_the_cap_and_disconnects_are_unchanged() -> None:
    with serve_in_thread(create_app(body_timeout_s=2.0, max_message_bytes=4096)) as url:
        body = json.dumps({"seed": 0, "scenario": "egfr_nsclc_viable"}).encode()
        with socket.create_connection(("127.0.0.1", _port(url)), timeout=10) as sock:
            sock.sendall(b"POST /reset HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body[:10])
            time.sleep(0.3)
            sock.sendall(body[10:])
            sock.settimeout(10)
            reply = b""
            while b"\r\n\r\n" not in reply:
                reply += sock.recv(65536)
            assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
        assert httpx.post(url + "/reset", content=b"{" + b" " * 5000 + b"}", timeout=10).status_code == 413
        with _stalled(url):
            pass  # the client leaves mid-body
        assert httpx.get(url + "/health", timeout=5).status_code == 200


def test_the_dashboard_api_answers_a_stalled_body_408(tmp_path) -> None:
    from drugenv.dashboard import create_app as dashboard_app

    with serve_in_thread(dashboard_app(tmp_path, body_timeout_s=0.5)) as url:
        with _stalled(url, b"/api/episodes") as sock:
            _check_408(*_read_until_closed(sock, 5), "0.5")
        assert httpx.get(url + "/api/episodes", timeout=5).status_code == 200


def test_the_agent_service_api_has_the_body_deadline() -> None:
    """The agent service's ingress app (served by Serve, 256 ongoing requests a replica) reads its bodies
    through the same middleware, with the default deadline."""
    pytest.importorskip("ray")
    from serve.agent_service import MAX_BODY_BYTES, agent_service_api

    layers = [m for m in agent_service_api.user_middleware if m.cls is _BodyLimit]
    assert len(layers) == 1 and layers[0].kwargs == {"max_bytes": MAX_BODY_BYTES, "timeout_s": BODY_TIMEOUT_S}


@pytest.mark.parametrize("within", ["default", "wait_for"])
def test_the_middleware_answers_408_on_its_own_and_frees_the_request(within: str, monkeypatch) -> None:
    """The layer alone, as Serve's replica runs it: a receive that never yields the rest of the body (and with
    ``asyncio.wait_for``, what Python 3.10 uses)."""
    from fastapi import FastAPI

    import drugenv.server.app as app_mod

    if within == "wait_for":
        monkeypatch.setattr(app_mod, "_within", asyncio.wait_for)

    app = harden_json_api(FastAPI(), 1024, body_timeout_s=0.2)

    @app.post("/x")
    def x() -> dict:  # pragma: no cover - never reached
        return {}

    sent: list[dict] = []

    async def receive() -> dict:
        if not sent and not getattr(receive, "gave", False):
            receive.gave = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": b"{\"a\":", "more_body": True}
        await asyncio.Event().wait()  # never
        raise AssertionError

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "path": "/x",
             "raw_path": b"/x", "root_path": "", "scheme": "http", "query_string": b"", "server": ("127.0.0.1", 1),
             "client": ("127.0.0.1", 2), "headers": [(b"host", b"127.0.0.1"), (b"content-length", b"100")]}
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 5))
    assert sent[0]["status"] == 408 and (b"connection", b"close") in sent[0]["headers"]
    assert "5 of the 100 declared bytes" in json.loads(sent[1]["body"])["detail"]


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "10"])
def test_a_bad_body_timeout_is_refused(bad: Any) -> None:
    with pytest.raises(ConfigError, match="body_timeout_s"):
        create_app(body_timeout_s=bad)


def test_no_deadline_when_asked() -> None:
    create_app(body_timeout_s=None)


@pytest.mark.parametrize("asgi_server", ["uvicorn", "granian"])
def test_serve_env_body_timeout_flag(asgi_server: str) -> None:
    """``drugenv serve-env --body-timeout-s`` reaches the app, and granian closes the connection after the 408 too."""
    if asgi_server == "granian":
        pytest.importorskip("granian")
    from .conftest import serve_in_process

    with serve_in_process("--asgi-server", asgi_server, "--body-timeout-s", "0.5") as (url, _):
        with _stalled(url) as sock:
            _check_408(*_read_until_closed(sock, 5), "0.5")
        r = httpx.post(url + "/reset", json={"seed": 0, "scenario": "egfr_nsclc_viable"}, timeout=10)
        assert r.status_code == 200 and r.json()["observation"]["step_count"] == 0


def test_the_flag_travels_to_workers_and_serve_replicas() -> None:
    """``--workers`` and the Serve env app hand ``Args`` to each process as JSON (``DRUGENV_SERVER_ARGS``)."""
    import dataclasses
    import os
    from unittest import mock

    from drugenv.server.serve import WORKER_ARGS_ENV_VAR, Args, settings_from_environment

    with mock.patch.dict(os.environ, {WORKER_ARGS_ENV_VAR: json.dumps(dataclasses.asdict(Args(body_timeout_s=2.5)))}):
        assert settings_from_environment().body_timeout_s == 2.5
    assert Args().body_timeout_s == BODY_TIMEOUT_S
