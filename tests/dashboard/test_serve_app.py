"""The dashboard as a Ray Serve app under a route prefix: pages, API, Plotly and the live stream."""

from __future__ import annotations

import json

import httpx
import pytest

from drugenv.server.serve import free_port
from tests.dashboard.conftest import make_grpo_run


@pytest.mark.slow
def test_dashboard_serve_app(runs_root):
    ray = pytest.importorskip("ray")
    from ray import serve

    from serve.apps import build_dashboard_app

    make_grpo_run(runs_root)
    ray.init(address="local", num_cpus=1, include_dashboard=False)
    port = free_port()  # after ray.init: Ray binds several ports of its own and could take it
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_dashboard_app(str(runs_root)), name="dashboard", route_prefix="/dashboard")
        base = f"http://127.0.0.1:{port}/dashboard"
        page = httpx.get(base + "/runs/grpo_tiny_cpu", timeout=30)
        assert page.status_code == 200 and 'data-base="/dashboard"' in page.text
        assert [r["id"] for r in httpx.get(base + "/api/runs", timeout=30).json()["runs"]] == ["grpo_tiny_cpu"]
        assert httpx.get(base + "/vendor/plotly.min.js", timeout=30).status_code == 200
        missing = httpx.get(base + "/api/runs/nope", timeout=30)
        assert missing.status_code == 404 and "grpo_tiny_cpu" in missing.json()["detail"]
        with httpx.stream("GET", base + "/api/stream/run/grpo_tiny_cpu", timeout=30) as r:
            first = next(line for line in r.iter_lines() if line.startswith("data: "))
        assert json.loads(first[len("data: "):])["iteration"] == 4
    finally:
        serve.shutdown()
        ray.shutdown()
