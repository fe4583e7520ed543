"""The Ray Serve environment app with two replicas (``serve.apps.build_env_app``), sealed through the environment of
the process that starts Ray: more /ws sessions than Serve's default of 5 ongoing requests per replica, each pinned
to one replica for its life and replaying the in-process sealed environment exactly; a session beyond every
replica's ``max_sessions`` gets the app's CAPACITY_REACHED frame."""

from __future__ import annotations

import json
import os
import time
from contextlib import ExitStack

import httpx
import pytest

from drugenv.client import CapacityReachedError, DrugTargetEnv
from drugenv.server.protocol import observation_data
from drugenv.server.serve import SEAL_ENV_VAR, free_port
from tests.server.conftest import replay

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

MAX_SESSIONS = 7
"""Per replica: above Serve's default ``max_ongoing_requests`` (5), which an open WebSocket counts against."""

SEAL = "replica-test-seal"
"""Set in this process's environment before Ray starts: Ray's processes, the replicas among them, inherit it."""

ACTIONS = [{"action_type": "query_expression", "parameters": {"database": "TCGA"}}, {"action_type": "toxicity_panel"},
           {"action_type": "submit_validation_report", "final_decision": "no_go", "confidence": 0.7}]


@pytest.fixture(scope="module")
def env_url():
    ray = pytest.importorskip("ray")
    from ray import serve

    from serve.apps import build_env_app

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SEAL_ENV_VAR, SEAL)
        ray.init(address="local", num_cpus=2, include_dashboard=False)
        port = free_port()  # after ray.init: Ray binds several ports of its own and could take it
        try:
            serve.start(http_options={"host": "127.0.0.1", "port": port})
            serve.run(build_env_app({"replicas": 2, "max_sessions": MAX_SESSIONS}), name="env", route_prefix="/")
            yield f"http://127.0.0.1:{port}"
        finally:
            serve.shutdown()
            ray.shutdown()


def _open(stack: ExitStack, url: str, seed: int) -> tuple[DrugTargetEnv, dict]:
    env = stack.enter_context(DrugTargetEnv(base_url=url, connect_timeout_s=30, message_timeout_s=30))
    first = env.reset(seed=seed, episode_id=f"r-{seed}").observation
    return env, json.loads(observation_data(first))


def _wait_until_no_session(url: str, timeout_s: float = 30.0) -> None:
    """Until every replica has freed its slots: /health (answered by either replica) reports none, several times in a row."""
    deadline, quiet = time.monotonic() + timeout_s, 0
    while quiet < 6:
        assert time.monotonic() < deadline, "sessions still open after their clients closed"
        quiet = quiet + 1 if httpx.get(url + "/health").json()["active_sessions"] == 0 else 0
        time.sleep(0.1)


def test_sessions_beyond_serves_default_cap_replay_the_local_environment(env_url):
    seeds = range(12)  # 12 open at once: more than one replica's 7, so both replicas hold sessions
    with ExitStack() as stack:
        opened = [_open(stack, env_url, s) for s in seeds]
        for _ in range(4):
            health = httpx.get(env_url + "/health").json()
            assert 0 < health["active_sessions"] <= MAX_SESSIONS and health["max_sessions"] == MAX_SESSIONS, health
        # Interleaved: every session steps while the others are open, so each frame must find its own replica.
        wire = [[first] for _, first in opened]
        for action in ACTIONS:
            for (env, _), payloads in zip(opened, wire):
                payloads.append(json.loads(observation_data(env.step(action).observation)))
    for seed, payloads in zip(seeds, wire):
        assert payloads[0]["metadata"].get("sealed") is True and "seed" not in payloads[0]["metadata"]
        assert payloads == replay(seed, None, ACTIONS, episode_id=f"r-{seed}", seal=SEAL)[0]
    _wait_until_no_session(env_url)


def test_a_session_beyond_every_replicas_cap_is_refused_by_a_frame(env_url):
    _wait_until_no_session(env_url)
    with ExitStack() as stack:
        opened = 0
        with pytest.raises(CapacityReachedError):  # a frame, not a handshake left waiting at Serve's proxy
            for seed in range(2 * MAX_SESSIONS + 3):
                _open(stack, env_url, seed)
                opened += 1
        assert MAX_SESSIONS < opened <= 2 * MAX_SESSIONS  # both replicas filled, neither past its cap
        assert httpx.get(env_url + "/health").json()["status"] == "healthy"  # HTTP still answers with every slot taken
    _wait_until_no_session(env_url)
    with DrugTargetEnv(base_url=env_url, connect_timeout_s=30) as env:  # the slots came back
        env.reset(seed=0)
        assert env.step(ACTIONS[0]).observation.step_count == 1


def test_bad_settings_are_refused_before_ray_starts():
    from serve.apps import Args, main

    from drugenv.errors import ConfigError

    with pytest.raises(ConfigError, match="--replicas"):
        main(Args(app="env", replicas=0))
    with pytest.raises(ConfigError, match="--max-sessions"):
        main(Args(app="env", max_sessions=0))


def test_an_empty_seal_variable_is_refused_before_any_replica_starts(monkeypatch):
    from serve.apps import build_env_app

    from drugenv.errors import ConfigError
    from drugenv.server.serve import SEAL_ENV_VAR

    monkeypatch.setenv(SEAL_ENV_VAR, "")  # DRUGENV_SEAL=$SECRET with SECRET unset: not a sealed app
    with pytest.raises(ConfigError, match="DRUGENV_SEAL is set but empty"):
        build_env_app({"replicas": 1})
