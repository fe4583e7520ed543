"""Sealed evaluation over the wire: ``drugenv serve-env`` with a secret (``--seal`` or DRUGENV_SEAL)."""

from __future__ import annotations

import json

from drugenv.client import DrugTargetEnv
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
