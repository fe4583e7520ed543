"""Shared fixtures: servers on 127.0.0.1 free ports (each stopped by its fixture), a scripted random
player, and in-process replay of the same seed and actions."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import typing
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import httpx
import pytest

from drugenv.actions import ACTION_TABLE, ActionType
from drugenv.scenarios import CURATED_NAMES
from drugenv.server.app import create_app
from drugenv.server.protocol import observation_data
from drugenv.server.serve import free_port, serve_in_thread
from drugenv.simulator.environment import DrugTargetEnvironment

SCENARIOS = list(CURATED_NAMES)


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws"


def random_action(rng: random.Random, obs: dict[str, Any]) -> dict[str, Any]:
    """A well-formed action: a legal action type, random parameter choices, submit once in a while."""
    legal = obs.get("legal_actions") or [a.value for a in ActionType]
    if obs.get("step_count", 0) >= 3 and rng.random() < 0.15:
        return {"action_type": "submit_validation_report", "final_decision": rng.choice(["go", "no_go"]),
                "confidence": round(rng.random(), 3), "reasoning": "enough evidence"}
    kind = ActionType(rng.choice([a for a in legal if a != "submit_validation_report"] or legal))
    params: dict[str, Any] = {}
    for name, f in ACTION_TABLE[kind].params.model_fields.items():
        if typing.get_origin(f.annotation) is typing.Literal and rng.random() < 0.7:
            params[name] = rng.choice(typing.get_args(f.annotation))
        elif f.annotation is bool:
            params[name] = rng.random() < 0.5
        elif name == "description":
            params[name] = "toxicity signal in a vital tissue"
    action: dict[str, Any] = {"action_type": kind.value, "parameters": params}
    if kind == ActionType.SUBMIT_VALIDATION_REPORT:
        action.update(final_decision="go", confidence=0.6)
    return action


def replay(seed: int, scenario: Optional[str], actions: list[dict[str, Any]], episode_id: Optional[str] = None,
           seal: Optional[str] = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """In-process: (observation payloads as the wire carries them, states), for reset + each action (under ``seal``)."""
    env = DrugTargetEnvironment(seal=seal)
    obs = env.reset(seed=seed, episode_id=episode_id, scenario=scenario)
    payloads, states = [json.loads(observation_data(obs))], [json.loads(env.state.model_dump_json())]
    for a in actions:
        obs = env.step(a)
        payloads.append(json.loads(observation_data(obs)))
        states.append(json.loads(env.state.model_dump_json()))
    return payloads, states


def handshake_status(url: str, host: str, origin: Optional[str] = None) -> int:
    """The HTTP status a ``/ws`` handshake to ``url`` gets when it names ``host`` in ``Host`` (and ``origin`` in
    ``Origin``): what a browser sends from a page whose name a DNS server pointed at the server (DNS rebinding)."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                      + (f"Origin: {origin}\r\n" if origin else "") + "\r\n").encode())
        return int(sock.recv(4096).split(b"\r\n", 1)[0].split()[1])


@contextmanager
def serve_in_process(*cli_args: str, start_timeout_s: float = 60.0) -> Iterator[tuple[str, subprocess.Popen]]:
    """``drugenv serve-env --host 127.0.0.1 --port <free> *cli_args`` in a process of its own; yields
    (base URL, process) once ``/health`` answers, and stops it (SIGTERM: the server stops its workers)."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DRUGENV_SEAL", None)
    # The server's log goes to a file, not a pipe: a pipe nobody reads would stall a chatty server once full.
    log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "drugenv.cli", "serve-env", "--host", "127.0.0.1", "--port", str(port),
                             *cli_args], env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                # Only while our process lives: a server that lost the port to another would leave
                # the other's /health answering.
                if httpx.get(url + "/health", timeout=1).status_code == 200 and proc.poll() is None:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"server did not start ({'exited' if proc.poll() is not None else 'timeout'}): {log.read()[-2000:]}")
            time.sleep(0.2)
        yield url, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module", params=["uvicorn", "granian"])
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A DrugEnv server with default limits, under each ``--asgi-server``: uvicorn in a thread of the
    test process, granian in a process of its own (it starts its own worker process)."""
    if request.param == "uvicorn":
        with serve_in_thread(create_app(max_sessions=256)) as url:
            yield url
    else:
        with serve_in_process("--asgi-server", "granian", "--max-sessions", "256") as (url, _):
            yield url


@pytest.fixture(scope="module")
def reference_url() -> Iterator[str]:
    """OpenEnv 0.10's reference server hosting the same environment."""
    pytest.importorskip("openenv.core", reason="the openenv package (test extra) is needed for the reference server")
    from drugenv.server.openenv_reference import make_reference_app

    with serve_in_thread(make_reference_app(max_sessions=64)) as url:
        yield url
