"""``drugenv serve-env --workers 2``: several server processes behind one port, each WebSocket in one worker
(under uvicorn's process manager, and under granian's)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from drugenv.client import DrugTargetEnv
from drugenv.server.protocol import observation_data

from .conftest import handshake_status, replay, serve_in_process


@pytest.fixture(params=["uvicorn", "granian"])
def two_worker_server(request: pytest.FixtureRequest):
    with _two_workers(max_sessions=8, asgi_server=request.param) as server:
        yield server


def _two_workers(max_sessions: int, asgi_server: str = "uvicorn"):
    return serve_in_process("--workers", "2", "--max-sessions", str(max_sessions), "--asgi-server", asgi_server)


def _play(url: str, seed: int) -> tuple[list[dict], list[dict]]:
    actions = [{"action_type": "query_expression", "parameters": {"database": "TCGA"}},
               {"action_type": "toxicity_panel"}, {"action_type": "off_target_screen"},
               {"action_type": "submit_validation_report", "final_decision": "go", "confidence": 0.6}]
    with DrugTargetEnv(base_url=url) as env:
        payloads = [env.reset(seed=seed, scenario="cd33_aml_misleading", episode_id=f"w-{seed}").observation]
        payloads += [env.step(a).observation for a in actions]
    return [json.loads(observation_data(o)) for o in payloads], actions


def test_sessions_across_workers_replay_exactly(two_worker_server):
    url, proc = two_worker_server
    children = subprocess.run(["ps", "-ww", "--ppid", str(proc.pid), "-o", "args="], capture_output=True, text=True).stdout
    # Two worker processes behind the one port (uvicorn's are multiprocessing spawns; granian forks the server command)
    assert len([c for c in children.splitlines() if "multiprocessing" in c or "serve-env" in c]) >= 2, children
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda s: (s, _play(url, s)), range(8)))
    for seed, (wire, actions) in results:
        local, _ = replay(seed, "cd33_aml_misleading", actions, episode_id=f"w-{seed}")
        assert wire == local
    health = httpx.get(url + "/health").json()
    assert health["status"] == "healthy" and health["max_sessions"] == 8  # the cap holds per worker


def test_workers_answer_to_loopback_names_only(two_worker_server):
    """DNS rebinding: a page whose name a DNS server points at 127.0.0.1 opened sessions in every server mode (its
    Origin matched its Host). Each worker, bound to loopback, now refuses that Host: 421."""
    url, _ = two_worker_server
    port = url.rsplit(":", 1)[1]
    for _ in range(4):  # new connections, so both workers answer
        assert handshake_status(url, f"evil.example:{port}", origin=f"http://evil.example:{port}") == 421
        assert httpx.get(url + "/health", headers={"host": f"evil.example:{port}"}).status_code == 421
        assert handshake_status(url, f"localhost:{port}", origin=f"http://localhost:{port}") == 101


def test_workers_must_be_positive():
    res = subprocess.run([sys.executable, "-m", "drugenv.cli", "serve-env", "--workers", "0"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "--workers must be >= 1" in res.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the spread is the Linux kernel's (SO_REUSEPORT); /proc")
def test_a_burst_of_sessions_is_spread_over_both_workers():
    from websockets.asyncio.client import connect

    from tests.benchmarks.benchmark_scripts import load

    bench = load("bench_server")  # its /proc reader, the one that reports the spread in its records
    with _two_workers(max_sessions=64) as (url, proc):
        port = int(url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while len(bench.sessions_per_process(proc.pid, port) or ()) < 2:  # /health answers once one worker listens
            assert time.monotonic() < deadline, "the second worker never listened"
            time.sleep(0.2)

        async def burst() -> list[int]:  # 32 sessions opened at once from one event loop, as a rollout batch does
            sockets = await asyncio.gather(*(connect(url.replace("http://", "ws://") + "/ws") for _ in range(32)))
            try:
                return bench.sessions_per_process(proc.pid, port)
            finally:
                await asyncio.gather(*(ws.close() for ws in sockets))

        for _ in range(3):
            spread = asyncio.run(burst())
            # One shared socket gave a burst to whichever worker woke first (32 sessions split 30/2, even
            # 32/0); a socket per worker in a SO_REUSEPORT group lets the kernel hash them across both
            # (an even hash leaves a worker under 4 of 32 about once in 50,000 bursts).
            assert len(spread) == 2 and sum(spread) == 32 and min(spread) >= 4, spread


@pytest.mark.parametrize("server_args", [("--workers", "1"), ("--workers", "2"), ("--asgi-server", "granian")],
                         ids=["uvicorn", "uvicorn-workers", "granian"])
def test_a_port_another_server_listens_on_is_refused(server_args):
    import socket

    # A listener that itself set SO_REUSEPORT: sockets bound with it (the workers' own; granian's) could
    # join it and split its sessions.
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT if hasattr(socket, "SO_REUSEPORT") else socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        res = subprocess.run([sys.executable, "-m", "drugenv.cli", "serve-env", "--host", "127.0.0.1", "--port", str(port),
                              *server_args], capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and f"cannot bind 127.0.0.1:{port}" in res.stderr, res.stderr[-2000:]


def test_a_host_that_is_no_address_is_refused_in_one_line():
    """uvicorn printed its own ERROR line for it and exited 3."""
    res = subprocess.run([sys.executable, "-m", "drugenv.cli", "serve-env", "--host", "999.1.1.1", "--port", "0"],
                         capture_output=True, text=True, timeout=60)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and lines == [lines[0]] and lines[0].startswith("drugenv serve-env: error: cannot bind 999.1.1.1:0"), \
        res.stderr[-2000:]
    assert "Traceback" not in res.stderr
