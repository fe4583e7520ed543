"""The client's life: ``close()`` ends its session for good, for calls that were waiting on it too (a call
queued behind another thread's or task's reconnected once close() had returned, holding a server slot)."""

from __future__ import annotations

import asyncio
import os
import pickle
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from drugenv.client import AsyncDrugTargetEnv, DrugTargetEnv, EnvConnectionError
from drugenv.server.app import create_app
from drugenv.server.serve import serve_in_thread
from drugenv.simulator.environment import DrugTargetEnvironment

LITERATURE = {"action_type": "literature_search"}


class SlowStep(DrugTargetEnvironment):
    """A step whose reply is surely still on its way when close() runs (the margins are seconds, for a loaded CI box)."""

    def step(self, action: Any, **kwargs: Any) -> Any:
        time.sleep(3.0)
        return super().step(action, **kwargs)


def _wait_active(url: str, n: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (active := httpx.get(url + "/health").json()["active_sessions"]) != n:
        assert time.monotonic() < deadline, f"active_sessions stuck at {active}, expected {n}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def slow_url():
    with serve_in_thread(create_app(env_factory=SlowStep, max_sessions=8)) as url:
        yield url


def test_step_and_state_after_close_raise_and_open_no_session(slow_url: str) -> None:
    """``state()`` after close() reconnected and answered step_count 0 for a new, empty session."""
    env = DrugTargetEnv(base_url=slow_url)
    env.reset(seed=0, scenario="egfr_nsclc_viable")
    env.close()
    _wait_active(slow_url, 0)
    for call in (env.state, lambda: env.step(LITERATURE)):
        with pytest.raises(EnvConnectionError, match=r"is closed \(close\(\)\); reset\(\) opens a new session"):
            call()
    assert env._ws is None and httpx.get(slow_url + "/health").json()["active_sessions"] == 0
    env.close()


def test_reset_connect_and_with_after_close_open_a_new_session(slow_url: str) -> None:
    env = DrugTargetEnv(base_url=slow_url)
    env.reset(seed=0, scenario="egfr_nsclc_viable")
    env.close()
    assert env.reset(seed=1, scenario="egfr_nsclc_viable").observation.metadata["seed"] == 1
    assert env.state().step_count == 0
    env.close()
    with env:
        assert env.reset(seed=2, scenario="egfr_nsclc_viable").observation.metadata["seed"] == 2
    with pytest.raises(EnvConnectionError):
        env.state()
    env.connect()
    assert env.reset(seed=3, scenario="egfr_nsclc_viable").observation.metadata["seed"] == 3
    env.close()
    _wait_active(slow_url, 0)


def test_a_call_waiting_for_the_lock_while_close_runs_does_not_reconnect(slow_url: str) -> None:
    env = DrugTargetEnv(base_url=slow_url)
    env.reset(seed=1, scenario="egfr_nsclc_viable")
    outcomes: dict[str, Any] = {}

    def call(name: str, what: Any) -> None:
        try:
            outcomes[name] = what()
        except BaseException as e:  # noqa: BLE001 - collected for the asserts below
            outcomes[name] = e

    in_flight = threading.Thread(target=call, args=("in_flight", lambda: env.step(LITERATURE)))
    in_flight.start()
    time.sleep(1.0)  # the step's frame is sent; its reply is two seconds away
    queued = [threading.Thread(target=call, args=(name, what)) for name, what in
              (("step", lambda: env.step(LITERATURE)), ("state", env.state), ("reset", lambda: env.reset(seed=2)))]
    for t in queued:
        t.start()
    time.sleep(1.0)  # all three wait for the lock
    env.close()
    for t in (in_flight, *queued):
        t.join(timeout=30)
    # The call in flight may still read its own reply (close() waits for the closing handshake), or see the socket close.
    first = outcomes.pop("in_flight")
    assert not isinstance(first, BaseException) or "closed by close() during the call" in str(first), first
    assert sorted(outcomes) == ["reset", "state", "step"], outcomes
    for name, got in outcomes.items():
        assert type(got) is EnvConnectionError and "before this call could send its frame" in str(got), (name, got)
    assert env._ws is None
    _wait_active(slow_url, 0)


def test_an_async_call_waiting_for_the_lock_while_close_runs_does_not_reconnect(slow_url: str) -> None:
    async def play() -> list[Any]:
        env = AsyncDrugTargetEnv(base_url=slow_url)
        await env.reset(seed=1, scenario="egfr_nsclc_viable")
        calls = [asyncio.create_task(c) for c in (env.step(LITERATURE), env.step(LITERATURE), env.state(), env.reset(seed=2))]
        await asyncio.sleep(0.3)  # the first step's frame is sent; the other three wait for the lock
        await env.close()
        got = await asyncio.gather(*calls, return_exceptions=True)
        assert env._ws is None
        with pytest.raises(EnvConnectionError, match="is closed"):
            await env.step(LITERATURE)
        assert (await env.reset(seed=3, scenario="egfr_nsclc_viable")).observation.metadata["seed"] == 3
        await env.close()
        return got

    first, *queued = asyncio.run(play())
    assert not isinstance(first, BaseException) or "closed by close() during the call" in str(first), first
    assert all(type(e) is EnvConnectionError and "before this call could send its frame" in str(e) for e in queued), queued
    _wait_active(slow_url, 0)


def _open_sockets() -> set[str]:
    """This process's open sockets, as /proc names them (``socket:[inode]``); empty where there is no /proc."""
    fds = Path("/proc/self/fd")
    found = set()
    for fd in fds.iterdir() if fds.is_dir() else ():
        try:
            link = os.readlink(fd)
        except OSError:  # the listing's own descriptor, gone already
            continue
        if link.startswith("socket:"):
            found.add(link)
    return found


def _client_socket(env: AsyncDrugTargetEnv) -> str:
    fd = env._ws.transport.get_extra_info("socket").fileno()
    return os.readlink(f"/proc/self/fd/{fd}") if Path("/proc/self/fd").is_dir() else ""


def test_a_call_from_another_event_loop_says_so_and_lets_the_dead_session_go(slow_url: str) -> None:
    """An ``asyncio.run`` per call failed as "EnvConnectionError: connection ... closed: ... attached to a
    different loop", a socket it could never use again left open (and its server slot held)."""
    from drugenv.client import WrongEventLoopError

    env = AsyncDrugTargetEnv(base_url=slow_url)
    asyncio.run(env.reset(seed=0, scenario="egfr_nsclc_viable"))
    for call in (lambda: env.step(LITERATURE), env.state, lambda: env.reset(seed=1)):
        client_socket = _client_socket(env)
        with pytest.raises(WrongEventLoopError, match=r"another event loop, which has closed .*one asyncio\.run") as err:
            asyncio.run(call())
        assert client_socket not in _open_sockets()  # closed, not held until garbage collection (its loop never will)
        assert not isinstance(err.value, EnvConnectionError)
        assert str(pickle.loads(pickle.dumps(err.value))) == str(err.value)  # as every DrugEnvError
        _wait_active(slow_url, 0)  # the socket was let go of: the server freed the slot
        asyncio.run(env.reset(seed=0, scenario="egfr_nsclc_viable"))  # a socket in this loop, the next call's trouble

    async def episode() -> int:  # the right way: one loop for the whole episode
        await env.reset(seed=2, scenario="egfr_nsclc_viable")
        await env.step(LITERATURE)
        return (await env.state()).step_count

    asyncio.run(env.close())  # from another loop than its socket's: the slot is freed all the same
    _wait_active(slow_url, 0)
    assert asyncio.run(episode()) == 1  # a closed client's next loop is its loop
    asyncio.run(env.close())
    _wait_active(slow_url, 0)


def test_a_call_from_another_event_loop_leaves_a_socket_whose_loop_still_runs(slow_url: str) -> None:
    from drugenv.client import WrongEventLoopError

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        env = AsyncDrugTargetEnv(base_url=slow_url)
        asyncio.run_coroutine_threadsafe(env.reset(seed=0, scenario="egfr_nsclc_viable"), loop).result(30)
        with pytest.raises(WrongEventLoopError, match="which is still open: call it from that loop"):
            asyncio.run(env.state())
        assert asyncio.run_coroutine_threadsafe(env.state(), loop).result(30).seed == 0  # its own loop: intact
        asyncio.run(env.close())
        _wait_active(slow_url, 0)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def _server_that_stops_answering() -> tuple[str, Any]:
    """A WebSocket server on 127.0.0.1 that accepts the handshake, then reads nothing and answers nothing (a
    process stopped with SIGSTOP, a host gone): ``(base_url, close)``."""
    import base64
    import hashlib
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []

    def accept() -> None:
        conn, _ = listener.accept()
        held.append(conn)
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n") if line.lower().startswith(b"sec-websocket-key"))
        accept_key = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept_key + b"\r\n\r\n")

    threading.Thread(target=accept, daemon=True).start()

    def close() -> None:
        for sock in (*held, listener):
            sock.close()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", close


def test_a_reply_timeout_is_raised_when_it_expires_not_after_a_closing_handshake() -> None:
    # The client waited for a closing handshake the silent server never answers (2 s more): a 3 s message
    # timeout raised after 5 s.
    url, close = _server_that_stops_answering()
    env = DrugTargetEnv(base_url=url, message_timeout_s=1.0)
    try:
        started = time.monotonic()
        with pytest.raises(EnvConnectionError, match="no reply .* within 1.0 s"):
            env.reset(seed=0)
        assert time.monotonic() - started < 2.5
    finally:
        env.close()
        close()
