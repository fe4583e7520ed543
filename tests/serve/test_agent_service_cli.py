"""The agent service as a user starts it: `drugenv serve --checkpoint PATH` and `serve run CONFIG.yaml` (the
README's Serve section), each in its own process on loopback, answering /health and /episodes, stopped by SIGTERM."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from drugenv.server.serve import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def _wait_healthy(proc: subprocess.Popen, url: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the server exited early with {proc.returncode}"
        try:
            r = httpx.get(f"{url}/health", timeout=10)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(2)
    raise TimeoutError(f"{url}/health did not answer in {timeout}s")


def _stop(proc: subprocess.Popen) -> int:
    """SIGTERM our own server process; it stops Serve and the Ray it started."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=30)


def _play(url: str) -> dict:
    r = httpx.post(f"{url}/episodes", json={"gene": "EGFR", "seed": 0, "max_steps": 2}, timeout=300)
    assert r.status_code == 200, r.text
    return r.json()


def test_drugenv_serve_checkpoint(tiny_checkpoint):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "drugenv.cli", "serve", "--checkpoint", str(tiny_checkpoint),
                             "--port", str(port)], cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        health = _wait_healthy(proc, f"http://127.0.0.1:{port}")
        assert health["adapter"] == str((tiny_checkpoint / "adapter").resolve())
        ep = _play(f"http://127.0.0.1:{port}")
        assert ep["target_gene"] == "EGFR" and len(ep["steps"]) == 2
    finally:
        rc = _stop(proc)
    assert rc == 0


def test_serve_run_config_file(tiny_checkpoint, tmp_path):
    import yaml

    port = free_port()
    config = yaml.safe_load((ROOT / "serve" / "agent_service.yaml").read_text())
    config["http_options"]["port"] = port
    config["applications"][0]["args"]["checkpoint"] = str(tiny_checkpoint)
    (tmp_path / "agent.yaml").write_text(yaml.safe_dump(config))
    serve_bin = Path(sys.executable).parent / "serve"
    proc = subprocess.Popen([str(serve_bin), "run", "--address", "local", str(tmp_path / "agent.yaml")], cwd=ROOT, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_healthy(proc, f"http://127.0.0.1:{port}")
        assert _play(f"http://127.0.0.1:{port}")["steps"]
    finally:
        _stop(proc)
