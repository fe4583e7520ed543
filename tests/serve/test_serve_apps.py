"""Both Ray Serve apps on loopback: the environment plays an episode over HTTP and the agent answers /act."""

import os

import httpx
import pytest

from drugenv.server.serve import free_port

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture(scope="module")
def serve_url():
    ray = pytest.importorskip("ray")
    from ray import serve

    from drugenv.llm.tiny import cached_tiny_model
    from serve.apps import build_agent_app, env_app

    model = str(cached_tiny_model())
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    port = free_port()  # after ray.init: Ray binds several ports of its own and could take it
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(env_app, name="env", route_prefix="/env")
        serve.run(build_agent_app({"model": model, "max_new_tokens": "32"}), name="agent", route_prefix="/agent")
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
