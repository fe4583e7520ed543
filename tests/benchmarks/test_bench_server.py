"""`benchmarks/bench_server.py`: both servers get the very same load, uncompressed, from real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import shlex
import shutil
import subprocess
import sys
import threading
from typing import Any

import pytest
from benchmark_scripts import ROOT, load

pytest.importorskip("openenv")  # the reference server is a test dependency (pyproject's test extra)


@pytest.fixture(scope="module")
def bench():
    return load("bench_server")


def test_both_servers_are_sent_the_same_frames(bench):
    args = bench.Args(clients=2, episodes=1, max_steps=6)
    ours, reference = bench.measure("drugenv", args), bench.measure("reference", args)
    # The digest covers every frame the clients sent: equal digests mean both servers answered the
    # same seeds with observations that drew the same actions (and so were asked for the same work).
    assert ours["load_sha256"] == reference["load_sha256"]
    assert ours["steps"] == reference["steps"] > 0
    assert ours["steps_per_s"] > 0 and reference["p99_ms"] >= reference["p50_ms"] > 0


def test_a_session_the_server_refuses_fails_the_run_with_the_servers_reason(bench):
    # The load generator plays from frame callbacks: an error frame must end the run, not leave it
    # waiting for a reply that never comes.
    proc, url = bench.start_server("drugenv", max_sessions=1)
    try:
        with pytest.raises(bench.UnexpectedFrame, match="sessions are in use"):
            bench._run(asyncio.wait_for(bench.run_load(url, bench.Args(clients=2, episodes=1, max_steps=3)), 60))
    finally:
        bench.stop_server(proc)


def test_granian_gets_the_same_load_as_uvicorn(bench):
    args = bench.Args(clients=2, episodes=1, max_steps=6)
    under_uvicorn = bench.measure("drugenv", args)
    under_granian = bench.measure("drugenv", bench.Args(clients=2, episodes=1, max_steps=6, asgi_server="granian"))
    assert under_granian["load_sha256"] == under_uvicorn["load_sha256"]
    assert under_granian["steps"] == under_uvicorn["steps"] > 0
    assert under_granian["sessions_per_process"] == [2]  # granian's one worker holds the sessions


def test_the_serve_app_gets_the_same_load_as_serve_env(bench):
    pytest.importorskip("ray")
    args = bench.Args(clients=8, episodes=1, max_steps=6)  # 8 sessions: more than Serve's default of 5 a replica
    direct = bench.measure("drugenv", args)
    through_serve = bench.measure("drugenv", bench.Args(clients=8, episodes=1, max_steps=6, serve_replicas=2))
    assert through_serve["load_sha256"] == direct["load_sha256"]
    assert through_serve["steps"] == direct["steps"] > 0


def _network_namespaces() -> bool:
    """Whether this machine lets the tests make a network namespace of their own (root or CAP_SYS_ADMIN, iproute2)."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0


def test_the_serve_app_behind_haproxy_gets_the_same_load_as_serve_env(bench, tmp_path):
    pytest.importorskip("ray")
    if not _network_namespaces():
        pytest.skip("no network namespace to run in: Ray's HAProxy binds its stats and metrics ports on all interfaces")
    args = bench.Args(clients=8, episodes=1, max_steps=6)
    direct = bench.measure("drugenv", args)
    # In a network namespace of its own, where the only interface is loopback.
    record = tmp_path / "haproxy.json"
    command = (f"ip link set lo up && exec {shlex.quote(sys.executable)} benchmarks/bench_server.py --servers drugenv "
               f"--clients 8 --episodes 1 --max-steps 6 --serve-replicas 2 --serve-ingress haproxy --repeats 1 "
               f"--json-out {shlex.quote(str(record))}")
    run = subprocess.run(["unshare", "--net", "sh", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    through_haproxy = json.loads(record.read_text(encoding="utf-8"))
    assert through_haproxy["results"]["load_sha256"] == direct["load_sha256"]
    assert through_haproxy["results"]["drugenv"]["steps"] == direct["steps"] > 0
    # The direct path: HAProxy handed every session to a replica's own server, none to its backup (Serve's proxy).
    (measured,) = through_haproxy["results"]["runs"]["drugenv"]
    assert measured["haproxy_sessions"]["backup"] == 0
    assert measured["haproxy_sessions"]["replicas"] >= 8


def test_the_serve_app_is_ready_only_once_haproxy_routes_to_every_replica(monkeypatch):
    from serve.apps import wait_for_haproxy_replicas

    header = "# pxname,svname,status\n"
    pages = iter([header + "http-env,SERVE_PROXY_ACTOR-fallback-1,UP\n",  # only the backup: Serve's proxy actor
                  # one replica UP, listed twice (a second backend may track the same server), the other DOWN
                  header + "http-env,SERVE_REPLICA_env-EnvServer-a,UP\nhttp-env-router,SERVE_REPLICA_env-EnvServer-a,UP\n"
                  "http-env,SERVE_REPLICA_env-EnvServer-b,DOWN 1/2\n",
                  header + "http-env,SERVE_REPLICA_env-EnvServer-a,UP\nhttp-env,SERVE_REPLICA_env-EnvServer-b,UP\n"])
    served = []

    class Stats(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            body = next(pages, None) or header
            served.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *_):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Stats)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("RAY_SERVE_HAPROXY_STATS_PORT", str(server.server_address[1]))
    try:
        wait_for_haproxy_replicas(2, timeout_s=30)
        assert len(served) == 3 and served[0] == "/stats;csv"  # it waited for the third page, both replicas UP
        with pytest.raises(TimeoutError, match="0 of 1 replicas UP"):
            wait_for_haproxy_replicas(1, timeout_s=0.5)  # pages exhausted: no replica rows
    finally:
        server.shutdown()
        server.server_close()


def test_the_load_runs_uncompressed_though_the_reference_server_would_compress(bench):
    import picows

    proc, url = bench.start_server("reference", max_sessions=4)

    async def negotiated() -> tuple[str, str, Any]:
        # A client that offers permessage-deflate gets it from OpenEnv's server (uvicorn's default) ...
        offered, _ = await picows.ws_connect(picows.WSListener, url.replace("http://", "ws://") + "/ws",
                                             extra_headers={"Sec-WebSocket-Extensions": "permessage-deflate"})
        # ... so the load generator offers none: zlib would otherwise run on one side only.
        (lean,) = await bench._connect(url, [functools.partial(bench._Holder, 0, 2)])
        await asyncio.wait_for(lean.done, 30)  # a reset and two steps, every reply an uncompressed text frame
        extensions = [t.response.headers.get("Sec-WebSocket-Extensions", "") for t in (offered, lean.transport)]
        offered.disconnect()
        lean.transport.disconnect()
        return extensions[0], extensions[1], lean.done.result()

    try:
        offered, lean, played = bench._run(negotiated())
    finally:
        bench.stop_server(proc)
    assert "permessage-deflate" in offered
    assert lean == ""
    assert played is None
