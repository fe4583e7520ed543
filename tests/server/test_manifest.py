"""``openenv.yaml``: OpenEnv's own parser accepts it, its reward range is the true one (derived from
the default RewardConfig), and rewards of played episodes stay inside it; the entry points start."""

from __future__ import annotations

import importlib
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from drugenv.simulator.environment import DrugTargetEnvironment
from drugenv.simulator.params import RewardConfig

from .conftest import SCENARIOS, random_action

ROOT = Path(__file__).resolve().parents[2]


def reward_bounds(cfg: RewardConfig) -> tuple[float, float]:
    """Per-step reward bounds. Highest: a confident, correct report with full coverage (the report
    step has no shaping or novelty), or an evidence step's novelty + coherence + full shaping.
    Lowest: a blocked report at the step cap (hard + missing decision + no report), a wrong
    confident report without evidence, or a costly soft-violating step that exhausts the budget."""
    high = max(cfg.w_decision + cfg.w_coverage + cfg.w_efficiency + cfg.w_coherence,
               cfg.novelty_bonus + cfg.coherence_bonus + cfg.shaping_weight)
    low = -max(cfg.hard_violation_penalty + cfg.missing_decision_penalty + cfg.no_report_penalty,
               cfg.w_decision + cfg.no_evidence_penalty - cfg.w_coherence,
               2 * cfg.soft_violation_penalty + cfg.credit_cost_weight + cfg.no_report_penalty)
    return round(low, 6), round(high, 6)


def test_manifest_parses_with_openenv_and_declares_the_true_range() -> None:
    parser = pytest.importorskip("openenv.validation.parsers.openenv_yaml")
    manifest = parser.OpenEnvYamlParser().parse(ROOT)
    assert manifest.name == "drugenv"
    assert tuple(manifest.reward.range) == reward_bounds(RewardConfig())


def test_played_rewards_stay_in_range() -> None:
    low, high = reward_bounds(RewardConfig())
    env = DrugTargetEnvironment()
    for seed in range(40):
        rng = random.Random(seed)
        obs = env.reset(seed=seed, scenario=SCENARIOS[seed % len(SCENARIOS)])
        while not obs.done:
            obs = env.step(random_action(rng, obs.model_dump(mode="json")) if rng.random() < 0.9
                           else {"action_type": "submit_validation_report"})
            assert low <= obs.reward <= high


@pytest.mark.parametrize("variables,why", [
    ({"MAX_CONCURRENT_ENVS": "abc"}, "MAX_CONCURRENT_ENVS must be a whole number >= 1, got 'abc'"),
    ({"MAX_CONCURRENT_ENVS": "0"}, "MAX_CONCURRENT_ENVS must be >= 1"),
    ({"SESSION_IDLE_TIMEOUT_S": "soon"}, "SESSION_IDLE_TIMEOUT_S must be a number of seconds > 0, or none, got 'soon'"),
    ({"SESSION_IDLE_TIMEOUT_S": "0"}, "SESSION_IDLE_TIMEOUT_S must be > 0 seconds"),
])
def test_the_asgi_apps_environment_variables_are_refused_by_name(monkeypatch, variables, why) -> None:
    """``uvicorn drugenv.server.asgi:app`` reads its limits from OpenEnv's variables: a bad one was a bare
    ``ValueError`` ("invalid literal for int()") or an error naming the Python argument instead."""
    from drugenv.errors import ConfigError
    from drugenv.server.serve import WORKER_ARGS_ENV_VAR, settings_from_environment

    monkeypatch.delenv(WORKER_ARGS_ENV_VAR, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=re.escape(why)):
        settings_from_environment()
    monkeypatch.setenv("SESSION_IDLE_TIMEOUT_S", "None")
    monkeypatch.setenv("MAX_CONCURRENT_ENVS", "7")
    assert (settings_from_environment().max_sessions, settings_from_environment().idle_timeout_s) == (7, None)


def test_asgi_module_and_python_m_entry_point() -> None:
    assert importlib.import_module("drugenv.server.asgi").app.state.sessions.max_sessions >= 1
    proc = subprocess.Popen([sys.executable, "-m", "drugenv.server", "--host", "127.0.0.1", "--port", "0",
                             "--log-level", "info"], stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if "Uvicorn running on" in line:
                url = line.split("running on ")[1].split()[0]
        assert url, "python -m drugenv.server did not start"
        assert httpx.get(url + "/health", timeout=5).json()["status"] == "healthy"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        proc.stderr.close()
