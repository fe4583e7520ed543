"""The Ray Serve apps on loopback: the environment plays an episode over HTTP, the agent answers /act, and each
answers to loopback host names only."""

import os

import httpx
import pytest

from drugenv.errors import ConfigError
from drugenv.server.serve import free_port

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture(scope="module")
def serve_url(tmp_path_factory):
    ray = pytest.importorskip("ray")
    from ray import serve

    from drugenv.llm.tiny import cached_tiny_model
    from serve.apps import build_agent_app, build_dashboard_app, env_app

    model = str(cached_tiny_model())
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    port = free_port()  # after ray.init: Ray binds several ports of its own and could take it
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(env_app, name="env", route_prefix="/env")
        serve.run(build_agent_app({"model": model, "max_new_tokens": "32"}), name="agent", route_prefix="/agent")
        serve.run(build_dashboard_app(str(tmp_path_factory.mktemp("runs"))), name="dashboard", route_prefix="/dashboard")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()


def test_env_app_plays_over_http(serve_url):
    with httpx.Client(base_url=serve_url, timeout=60) as c:
        assert c.get("/env/health").json()["status"] == "healthy"
        r = c.post("/env/reset", json={"seed": 3})
        assert r.status_code == 200 and r.json()["observation"]["target_gene"]
        bad = c.post("/env/step", json={"action": {"action_type": "teleport"}})
        assert 400 <= bad.status_code < 500


def test_agent_app_acts(serve_url):
    from drugenv.simulator.environment import DrugTargetEnvironment

    obs = DrugTargetEnvironment().reset(seed=0, scenario="egfr_nsclc_viable")
    with httpx.Client(base_url=serve_url, timeout=120) as c:
        assert c.get("/agent/health").json()["status"] == "healthy"
        r = c.post("/agent/act", content=obs.model_dump_json(), headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert "action_type" in body["action"] and isinstance(body["valid"], bool)
        # Whatever the untrained model wrote, the environment accepts the action without crashing.
        after = DrugTargetEnvironment()
        after.reset(seed=0, scenario="egfr_nsclc_viable")
        assert after.step(body["action"]).step_count == 1
        bad = c.post("/agent/act", json={"target_gene": 1})
        assert bad.status_code == 422


def test_a_misspelt_app_is_refused_not_served_as_the_environment():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-m", "serve.apps", "--app", "dashbord"], cwd=root, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "dashbord" in r.stderr + r.stdout and "Traceback" not in r.stderr


def test_every_app_answers_to_loopback_names_only(serve_url):
    """DNS rebinding: a web page whose name a DNS server points at 127.0.0.1 could play the agent's episodes and
    read its answers (and /health's model paths), open environment sessions, and read the dashboard's runs: the
    Serve apps checked no Host. On loopback each now answers 421 to any other name."""
    import socket

    port = serve_url.rsplit(":", 1)[1]
    evil = {"host": f"evil.example:{port}"}
    with httpx.Client(base_url=serve_url, timeout=120) as c:
        for path in ("/env/health", "/agent/health", "/dashboard/api/runs"):
            assert c.get(path).status_code == 200, path
            refused = c.get(path, headers=evil)
            assert refused.status_code == 421 and "127.0.0.1" in refused.json()["detail"], path
        assert c.post("/agent/episodes", json={"seed": 0}, headers=evil).status_code == 421
        assert c.post("/env/reset", json={"seed": 0}, headers=evil).status_code == 421
    with socket.create_connection(("127.0.0.1", int(port)), timeout=60) as sock:  # a handshake is refused too
        sock.sendall((f"GET /env/ws HTTP/1.1\r\nHost: evil.example:{port}\r\nOrigin: http://evil.example:{port}\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        assert sock.recv(4096).split(b"\r\n", 1)[0].split()[1] in (b"403", b"421")


def test_each_replica_app_answers_to_the_names_it_was_built_for(monkeypatch, tmp_path):
    """What the env and dashboard replicas build, without Ray: the loopback names by default (the dashboard's
    replica answered any name, though drugenv dashboard did not), any name behind a proxy on another interface."""
    from fastapi.testclient import TestClient

    from serve.apps import (DASHBOARD_HOSTS_ENV_VAR, WORKER_ARGS_ENV_VAR, _build_dashboard_asgi_app, _build_env_asgi_app,
                            build_env_app, hosts_behind)

    def answers(app, host: str, path: str) -> bool:
        with TestClient(app) as c:
            return c.get(path, headers={"host": host}).status_code == 200

    monkeypatch.setenv("DRUGENV_DASHBOARD_RUNS", str(tmp_path))
    monkeypatch.delenv(DASHBOARD_HOSTS_ENV_VAR, raising=False)
    monkeypatch.delenv(WORKER_ARGS_ENV_VAR, raising=False)
    monkeypatch.delenv("DRUGENV_SEAL", raising=False)
    for build, path in ((_build_dashboard_asgi_app, "/api/runs"), (_build_env_asgi_app, "/health")):
        app = build()
        assert answers(app, "localhost:8000", path) and not answers(app, "evil.example", path), build
    assert hosts_behind("127.0.0.1") == ["127.0.0.1", "localhost", "::1"] and hosts_behind("192.0.2.1") == ["*"]
    monkeypatch.setenv(DASHBOARD_HOSTS_ENV_VAR, '["*"]')
    assert answers(_build_dashboard_asgi_app(), "evil.example", "/api/runs")
    env_vars = build_env_app({"allowed_hosts": ["*"]})._bound_deployment.ray_actor_options["runtime_env"]["env_vars"]
    monkeypatch.setenv(WORKER_ARGS_ENV_VAR, env_vars[WORKER_ARGS_ENV_VAR])
    assert answers(_build_env_asgi_app(), "evil.example", "/health")


def test_the_env_apps_idle_timeout_is_a_setting_and_reaches_its_replicas(monkeypatch):
    """Behind Serve's proxy a client that stops reading is freed by the idle timeout only (a replica hands each
    reply to the proxy at once, so the send timeout never fires: an audit held 4 of 4 slots for the default hour
    while drugenv serve-env freed them in 30 s), and the Serve app offered no way to set it."""
    from fastapi.testclient import TestClient

    from serve.apps import WORKER_ARGS_ENV_VAR, _build_env_asgi_app, build_env_app

    monkeypatch.delenv("DRUGENV_SEAL", raising=False)
    with pytest.raises(ConfigError, match="idle_timeout_s must be > 0 seconds"):
        build_env_app({"idle_timeout_s": 0})
    env_vars = build_env_app({"idle_timeout_s": 0.3})._bound_deployment.ray_actor_options["runtime_env"]["env_vars"]
    monkeypatch.setenv(WORKER_ARGS_ENV_VAR, env_vars[WORKER_ARGS_ENV_VAR])
    with TestClient(_build_env_asgi_app()) as c, c.websocket_connect("/ws", headers={"host": "localhost"}) as ws:
        frame = ws.receive_json()  # nothing sent: the replica's session times out after 0.3 s
    assert frame["type"] == "error" and frame["data"]["code"] == "IDLE_TIMEOUT"
