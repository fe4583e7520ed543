"""The same environment hosted by OpenEnv's own reference server (``openenv.core`` ``create_app``).

A test and benchmark peer only: it needs the ``openenv`` package (pinned ``openenv==0.10.*`` in
the ``test`` extra), which DrugEnv never needs at run time. The conformance tests compare this
server's frames with ``drugenv.server``'s byte for byte in meaning; ``benchmarks/bench_server.py``
runs the same load against both.
"""

from __future__ import annotations

from typing import Any, Optional

from drugenv.errors import DependencyNotInstalled
from drugenv.models import DrugTargetAction, DrugTargetState, ValidationObservation
from drugenv.simulator.environment import DrugTargetEnvironment


def make_reference_app(max_sessions: int = 256) -> Any:
    """OpenEnv 0.10's ``create_app`` serving ``DrugTargetEnvironment`` (one per WebSocket)."""
    try:
        from openenv.core.env_server.http_server import create_app
        from openenv.core.env_server.interfaces import Environment
    except ImportError as e:
        raise DependencyNotInstalled("openenv", "test") from e

    class OpenEnvDrugTarget(Environment):  # type: ignore[misc, valid-type]
        """``DrugTargetEnvironment`` behind OpenEnv's ``Environment`` interface."""

        SUPPORTS_CONCURRENT_SESSIONS = True

        def __init__(self) -> None:
            super().__init__()
            self._env = DrugTargetEnvironment()

        def reset(self, seed: Optional[int] = None, episode_id: Optional[str] = None, scenario: Optional[str] = None,
                  difficulty: Optional[str] = None) -> ValidationObservation:
            return self._env.reset(seed=seed, episode_id=episode_id, scenario=scenario, difficulty=difficulty)

        def step(self, action: Any, timeout_s: Optional[float] = None, **kwargs: Any) -> ValidationObservation:
            return self._env.step(action)

        @property
        def state(self) -> DrugTargetState:
            return self._env.state

        def close(self) -> None:
            self._env.close()

    return create_app(OpenEnvDrugTarget, DrugTargetAction, ValidationObservation, env_name="drugenv",
                      max_concurrent_envs=max_sessions, state_cls=DrugTargetState)


__all__ = ["make_reference_app"]
