"""Sealed evaluation over the wire: ``drugenv serve-env`` with a secret (``--seal`` or DRUGENV_SEAL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drugenv.client import DrugTargetEnv
from drugenv.errors import ConfigError
from drugenv.models import DrugTargetAction
from drugenv.scenarios.procedural import generate_scenario, procedural_test_seeds
from drugenv.server.serve import SEAL_ENV_VAR, Args, make_app, serve_in_thread
from drugenv.simulator.environment import DrugTargetEnvironment


def _play(base_url: str, seed: int) -> list[str]:
    with DrugTargetEnv(base_url=base_url) as env:
        result = env.reset(seed=seed)
        frames = [result.observation.model_dump_json(), env.state().model_dump_json()]
        for at in ("query_expression", "toxicity_panel", "off_target_screen"):
            result = env.step(DrugTargetAction(action_type=at, reasoning="probe"))
            frames += [result.observation.model_dump_json(), env.state().model_dump_json()]
        return frames


def test_sealed_server_hides_the_seed_and_replays(monkeypatch):
    monkeypatch.delenv(SEAL_ENV_VAR, raising=False)
    seed = procedural_test_seeds(1, start=11)[0]
    with serve_in_thread(make_app(Args(port=0, seal="benchmark-secret"))) as url:
        first, again = _play(url, seed), _play(url, seed)
    assert first == again  # same (seed, secret): the same episode
    for frame in first:
        data = json.loads(frame)
        assert data.get("seed") is None and "seed" not in (data.get("metadata") or {})
    # What an agent computes from the public seed is not what the sealed server serves.
    local = DrugTargetEnvironment().reset(seed=seed)
    assert json.loads(first[0])["metadata"]["sealed"] is True
    assert json.loads(first[0])["metadata"]["episode_id"] != local.metadata["episode_id"]
    assert generate_scenario(seed).profile.gene == local.target_gene


def test_seal_from_the_environment_variable(monkeypatch):
    seed = procedural_test_seeds(1, start=12)[0]
    monkeypatch.setenv(SEAL_ENV_VAR, "from-env")
    with serve_in_thread(make_app(Args(port=0))) as url:
        sealed = _play(url, seed)
    monkeypatch.delenv(SEAL_ENV_VAR)
    with serve_in_thread(make_app(Args(port=0))) as url:
        open_ = _play(url, seed)
    assert "seed" not in json.loads(sealed[0])["metadata"]
    assert json.loads(open_[0])["metadata"]["seed"] == seed
    expected = DrugTargetEnvironment(seal="from-env").reset(seed=seed)
    assert json.loads(sealed[0])["target_gene"] == expected.target_gene


def test_an_empty_seal_variable_is_refused_as_an_empty_flag_is(monkeypatch):
    """``DRUGENV_SEAL=$SECRET`` with ``SECRET`` unset sets it empty; that served unsealed, logging only ``'seal': None``."""
    monkeypatch.setenv(SEAL_ENV_VAR, "")
    with pytest.raises(ConfigError, match="DRUGENV_SEAL is set but empty"):
        make_app(Args(port=0))
    assert make_app(Args(port=0, seal="a-flag-wins")) is not None  # --seal given: the variable is not read
    env = {**os.environ, SEAL_ENV_VAR: ""}
    run = subprocess.run([sys.executable, "-m", "drugenv.cli", "serve-env", "--port", "0"], env=env,
                         cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert lines[0] == "drugenv serve-env: error: DRUGENV_SEAL is set but empty: give the secret, or unset it to serve unsealed"


def test_the_startup_line_names_the_settings_as_information_and_never_the_seal(tmp_path):
    """`serve-env` logged its settings as a WARNING on every start (a line that read as trouble where there was none)."""
    from tests.server.conftest import free_port

    def started_log(*flags: str) -> str:
        port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop(SEAL_ENV_VAR, None)
        with open(tmp_path / "log", "w+", encoding="utf-8") as log:
            proc = subprocess.Popen([sys.executable, "-m", "drugenv.cli", "serve-env", "--host", "127.0.0.1", "--port",
                                     str(port), "--seal", "s3cret-value", *flags], env=env, stdout=log, stderr=log)
            try:
                deadline = time.monotonic() + 60
                while not _answers(f"http://127.0.0.1:{port}/health"):
                    assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "log").read_text(encoding="utf-8")
                    time.sleep(0.2)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        return (tmp_path / "log").read_text(encoding="utf-8")

    quiet = started_log()
    assert "drugenv server config" not in quiet and "WARNING" not in quiet, quiet
    told = started_log("--log-level", "info")
    line = next(line for line in told.splitlines() if "drugenv server config" in line)
    assert line.startswith("INFO:drugenv.server:") and "'seal': '<set>'" in line and "s3cret-value" not in told


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
