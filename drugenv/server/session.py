"""Sessions and frame handling: the ``/ws`` protocol logic of ``drugenv.server.app``, free of I/O.

``SessionRegistry`` caps and tracks live sessions (one ``DrugTargetEnvironment`` each);
``FrameHandler`` turns one text frame into its reply frame against one session, so tests can
drive the protocol without a socket. Frame shapes and error codes: ``drugenv.server.protocol``.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from pydantic import ValidationError

from drugenv.errors import UnknownScenarioError
from drugenv.models import DrugTargetAction, ValidationObservation
from drugenv.scenarios import CURATED_NAMES, SCENARIO_NAMES
from drugenv.server.protocol import (
    KEPT_OBSERVATION_DATA,
    EpisodeObservationData,
    ErrorCode,
    ResetRequest,
    error_frame,
    loads_json,
    observation_frame,
    state_frame,
    validation_errors,
)
from drugenv.simulator.environment import DrugTargetEnvironment
from drugenv.simulator.rules import utf8_encodable, utf8_text

logger = logging.getLogger("drugenv.server")

EnvFactory = Callable[[], DrugTargetEnvironment]

# ============================================================================================ sessions
class SessionCapacityError(Exception):
    """Every session slot is taken."""


@dataclass
class Session:
    """One WebSocket connection and its environment."""

    id: str
    env: DrugTargetEnvironment
    started: bool = False
    """True once the connection has reset an episode."""
    done: bool = False
    """The current episode has ended."""
    steps: int = 0
    opened_at: float = field(default_factory=time.monotonic)
    observation_frame: Callable[[ValidationObservation], str] = observation_frame
    """Writes the reply frame of an observation (``protocol.observation_frame``'s text)."""


class SessionRegistry:
    """The live sessions, capped at ``max_sessions``. Only touched from the event loop (no locks)."""

    def __init__(self, max_sessions: int):
        self.max_sessions = max_sessions
        self._sessions: dict[str, Session] = {}

    @property
    def active(self) -> int:
        return len(self._sessions)

    def ids(self) -> list[str]:
        return list(self._sessions)

    def open(self, env_factory: EnvFactory) -> Session:
        """Reserve a slot and build its environment; raises ``SessionCapacityError`` when full."""
        if len(self._sessions) >= self.max_sessions:
            raise SessionCapacityError()
        env = env_factory()
        session = Session(id=uuid.uuid4().hex, env=env)
        if type(env) is DrugTargetEnvironment:
            # The frame handler serializes each observation at once and keeps nothing: the environment
            # may hand out its own record instead of a copy (a subclass might change what it returns: no).
            env._lend_records = True
            # Its records are append-only within an episode: each is serialized once, when filed.
            if KEPT_OBSERVATION_DATA:
                session.observation_frame = EpisodeObservationData().frame
        self._sessions[session.id] = session
        return session

    def close(self, session: Session) -> None:
        """Free the slot and close the environment; idempotent."""
        if self._sessions.pop(session.id, None) is None:
            return
        try:
            session.env.close()
        except Exception:  # noqa: BLE001 - a failing close must not keep the slot
            logger.exception("env.close() failed for session %s", session.id)


# ============================================================================================ frames
_FRAME_KEYS = {"reset": {"type", "data"}, "step": {"type", "data"}, "state": {"type"}, "close": {"type"},
               "mcp": {"type", "data"}}


class FrameHandler:
    """Turns one text frame into its reply, against one session. Pure of I/O, so tests drive it directly."""

    def __init__(self, *, max_message_bytes: int, strict_actions: bool):
        self.max_message_bytes = max_message_bytes
        self.strict_actions = strict_actions

    def __call__(self, session: Session, text: str) -> tuple[Optional[str], bool]:
        """Returns ``(reply frame or None, keep the session open)``."""
        if len(text) > self.max_message_bytes or (4 * len(text) > self.max_message_bytes
                                                  and len(text.encode("utf-8", "surrogatepass")) > self.max_message_bytes):
            return error_frame(ErrorCode.MESSAGE_TOO_LARGE,
                               f"frame exceeds the server's {self.max_message_bytes}-byte cap; send smaller frames",
                               max_message_bytes=self.max_message_bytes), True
        try:
            msg = loads_json(text)
        except ValueError as err:
            return error_frame(ErrorCode.INVALID_JSON, f"invalid JSON: {str(err)[:200]}"), True
        if not isinstance(msg, dict):
            return error_frame(ErrorCode.VALIDATION_ERROR,
                               f"a frame must be a JSON object with a 'type', got {type(msg).__name__}"), True
        kind = msg.get("type", "")
        if not isinstance(kind, str) or kind not in _FRAME_KEYS:
            return error_frame(ErrorCode.UNKNOWN_TYPE, f"unknown message type {str(kind)[:50]!r}; expected one of: "
                               "reset, step, state, close, mcp"), True
        extra = set(msg) - _FRAME_KEYS[kind]
        if extra:
            return error_frame(ErrorCode.VALIDATION_ERROR, f"unexpected keys in a {kind!r} frame: "
                               f"{', '.join(sorted(utf8_text(str(k), 50) for k in extra))}; allowed: "
                               f"{', '.join(sorted(_FRAME_KEYS[kind]))}"), True
        data = msg.get("data", {})
        if kind in ("reset", "step", "mcp") and not isinstance(data, dict):
            return error_frame(ErrorCode.VALIDATION_ERROR, f"'data' of a {kind!r} frame must be a JSON object"), True
        try:
            if kind == "reset":
                return self._reset(session, data), True
            if kind == "step":
                return self._step(session, data), True
            if kind == "state":
                return state_frame(session.env.state), True
            if kind == "close":
                return None, False
            return json.dumps({"type": "mcp", "data": mcp_error(data.get("id"))}), True
        except Exception as err:  # noqa: BLE001 - the env's message may carry hidden values: log it, send the type
            ref = uuid.uuid4().hex[:8]
            logger.exception("environment error (ref %s) in session %s", ref, session.id)
            return error_frame(ErrorCode.EXECUTION_ERROR,
                               f"the environment raised {type(err).__name__} (server log ref {ref})"), True

    def _reset(self, session: Session, data: dict[str, Any]) -> str:
        try:
            req = ResetRequest.model_validate(data)
        except ValidationError as err:
            return error_frame(ErrorCode.VALIDATION_ERROR, "invalid reset arguments", errors=validation_errors(err))
        try:
            obs = session.env.reset(**req.model_dump())
        except UnknownScenarioError as err:
            return error_frame(ErrorCode.VALIDATION_ERROR, unknown_scenario_message(req.scenario, err.valid))
        session.started, session.done, session.steps = True, obs.done, 0
        return session.observation_frame(obs)

    def _step(self, session: Session, data: dict[str, Any]) -> str:
        if not session.started:
            return error_frame(ErrorCode.NOT_RESET, "step before reset: send a 'reset' frame first")
        if self.strict_actions:
            if session.done:
                return error_frame(ErrorCode.EPISODE_DONE, "the episode has ended; send a 'reset' frame to start a new one")
            try:
                action: Any = DrugTargetAction.model_validate(data)
            except ValidationError as err:
                return error_frame(ErrorCode.VALIDATION_ERROR, "invalid action", errors=validation_errors(err))
        else:
            action = data  # the environment turns a malformed action into a penalised observation
        obs = session.env.step(action)
        session.done, session.steps = obs.done, session.steps + 1
        return session.observation_frame(obs)


def unknown_scenario_message(name: Optional[str], valid: Sequence[str] = SCENARIO_NAMES) -> str:
    """What a client is told of a scenario name outside ``valid`` (the names it may pass)."""
    # UnknownScenarioError lists the curated names, and curated names give the answer away: never send them.
    public = ", ".join(repr(n) for n in valid if n not in CURATED_NAMES)
    return f"unknown scenario {name!r}: pass {public} or a curated scenario name (drugenv.scenarios.CURATED_NAMES)"


def mcp_error(request_id: Any) -> dict[str, Any]:
    """The JSON-RPC error every MCP request gets, echoing its id where JSON-RPC allows one (a string or
    an integer) and it encodes as UTF-8: a string holding a lone surrogate (``"\\ud800"``) gets ``null``."""
    if not isinstance(request_id, (str, int)) or isinstance(request_id, bool) or (
            isinstance(request_id, str) and not utf8_encodable(request_id)):
        request_id = None
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32603, "message": "Environment does not support MCP"}}

__all__ = ["EnvFactory", "FrameHandler", "Session", "SessionCapacityError", "SessionRegistry", "mcp_error",
           "unknown_scenario_message"]
