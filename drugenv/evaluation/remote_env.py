"""``RemoteEnvironment``: a DrugEnv server behind the in-process ``DrugTargetEnvironment`` interface.

``reset(seed=, episode_id=, scenario=, difficulty=)`` and ``step(action)`` return the
``ValidationObservation`` (``reward`` and ``done`` set on it, ``metadata`` as the server sent it),
so the shared episode loop (``evaluation.episodes.play_episodes``), run-agent and GRPO's env runners
drive a server exactly like the local simulator. It wraps one ``drugenv.client.DrugTargetEnv`` (one
WebSocket, one server-side episode at a time): make one per concurrent episode.

A server has no ``outcome()`` (the truth stays server-side); ``last_result`` keeps the latest
``StepResult`` (its ``metadata`` holds ``termination_reason`` and ``truncated``).

Unparseable output is sent as ``parsing.unparseable_action``. A server started with
``strict_actions=False`` answers it exactly like the local simulator (penalised, blocked, counted
as a step). A strict server (OpenEnv's default) refuses the frame instead; then the step does not
happen server-side, and with ``refused_as_violation=True`` (default) ``step`` returns the previous
observation with a hard ``invalid_action`` violation and reward 0 (the loop's ``max_steps`` bounds
such runs); with False the client's ``InvalidRequestError`` propagates. A refused
``DrugTargetAction`` always raises.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from drugenv.models import DrugTargetAction, ValidationObservation


class RemoteEnvironment:
    """One DrugEnv server session with ``reset``/``step``/``close`` like ``DrugTargetEnvironment``.

    Args:
        base_url: ``http(s)://host:port`` or ``ws(s)://host:port`` of the server.
        refused_as_violation: turn a strict server's refusal of a non-action (dict) into a no-op step
            with an ``invalid_action`` violation (see the module docstring) instead of raising.
        client_kwargs: passed to ``drugenv.client.DrugTargetEnv`` (timeouts, message size, pings).
    """

    def __init__(self, base_url: str, *, refused_as_violation: bool = True, **client_kwargs: Any) -> None:
        try:
            from drugenv.client import DrugTargetEnv
        except ModuleNotFoundError as e:  # pragma: no cover - the server extra is missing
            from drugenv.extras import missing_extra

            raise (missing_extra(e, "server") or e) from e
        self.base_url = base_url
        self.client = DrugTargetEnv(base_url=base_url, **client_kwargs)
        self.refused_as_violation = refused_as_violation
        self.last_result: Any = None
        self._last: Optional[ValidationObservation] = None

    def reset(self, seed: Optional[int] = None, episode_id: Optional[str] = None, scenario: Optional[str] = None,
              difficulty: Optional[str] = None) -> ValidationObservation:
        """Start an episode on the server; returns its first observation."""
        self.last_result = self.client.reset(seed=seed, episode_id=episode_id, scenario=scenario, difficulty=difficulty)
        self._last = self.last_result.observation
        return self._last

    def step(self, action: DrugTargetAction | Mapping[str, Any]) -> ValidationObservation:
        """Play one action; returns the observation after it (see the module docstring for refused frames)."""
        from drugenv.client import InvalidRequestError

        try:
            self.last_result = self.client.step(action)
        except InvalidRequestError as err:
            if not self.refused_as_violation or isinstance(action, DrugTargetAction) or self._last is None:
                raise
            from drugenv.models import RuleViolation

            violation = RuleViolation(rule="invalid_action", severity="hard", message=f"refused by the server: {err}")
            self._last = self._last.model_copy(update={"rule_violations": [violation], "reward": 0.0})
            return self._last
        self._last = self.last_result.observation
        return self._last

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "RemoteEnvironment":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["RemoteEnvironment"]
