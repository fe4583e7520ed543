"""The agent service as a user starts it: `drugenv serve --checkpoint PATH` and `serve run CONFIG.yaml` (the
README's Serve section), each in its own process on loopback, answering /health and /episodes, stopped by SIGTERM."""

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from drugenv.server.serve import free_port

from tests.serve.conftest import ROOT, serve_process_env, stop_serve_process, wait_healthy

pytestmark = pytest.mark.slow


def _play(url: str) -> dict:
    r = httpx.post(f"{url}/episodes", json={"gene": "EGFR", "seed": 0, "max_steps": 2}, timeout=300)
    assert r.status_code == 200, r.text
    return r.json()


def test_drugenv_serve_checkpoint(tiny_checkpoint, tmp_path):
    """Started outside the repository root: its replicas failed with "No module named 'serve'" (only the
    driver had the root on its path) and Serve retried them until killed. Without a PYTHONPATH of the test
    run's, which could hold the root and hide that."""
    port = free_port()
    env = {k: v for k, v in serve_process_env().items() if k != "PYTHONPATH"}
    proc = subprocess.Popen([sys.executable, "-m", "drugenv.cli", "serve", "--checkpoint", str(tiny_checkpoint),
                             "--port", str(port)], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        health = wait_healthy(proc, f"http://127.0.0.1:{port}")
        assert health["adapter"] == str((tiny_checkpoint / "adapter").resolve())
        ep = _play(f"http://127.0.0.1:{port}")
        assert ep["target_gene"] == "EGFR" and len(ep["steps"]) == 2
        # drugenv eval scores the served agent through POST /act, on episodes of its own simulator
        out = tmp_path / "served.json"
        scored = subprocess.run([sys.executable, "-m", "drugenv.cli", "eval", "--agent", f"serve:http://127.0.0.1:{port}",
                                 "--suite", "curated", "--episodes", "2", "--max-steps", "2", "--no-progress", "--out", str(out)],
                                cwd=ROOT, env=serve_process_env(), capture_output=True, text=True, timeout=300)
        assert scored.returncode == 0, scored.stderr[-2000:]
        records = json.loads(out.read_text(encoding="utf-8"))["records"]
        assert [r["steps"] for r in records] == [2, 2]
    finally:
        rc = stop_serve_process(proc)
    assert rc == 0


def test_serve_run_config_file(tiny_checkpoint, tmp_path):
    import yaml

    port = free_port()
    config = yaml.safe_load((ROOT / "serve" / "agent_service.yaml").read_text(encoding="utf-8"))
    config["http_options"]["port"] = port
    config["applications"][0]["args"]["checkpoint"] = str(tiny_checkpoint)
    (tmp_path / "agent.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    serve_bin = Path(sys.executable).parent / "serve"
    proc = subprocess.Popen([str(serve_bin), "run", "--address", "local", str(tmp_path / "agent.yaml")], cwd=ROOT, env=serve_process_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_healthy(proc, f"http://127.0.0.1:{port}")
        assert _play(f"http://127.0.0.1:{port}")["steps"]
    finally:
        stop_serve_process(proc)
