"""The OpenEnv 0.10 wire protocol, as DrugEnv speaks it: frame shapes, error codes, serialization.

Shared by the server (``drugenv.server.app``) and the client (``drugenv.client``); it imports
neither FastAPI nor a WebSocket library.

WebSocket ``/ws`` frames (one environment per connection)::

    -> {"type": "reset", "data": {"seed": 3, "episode_id": "ep1", "scenario": ..., "difficulty": ...}}
    <- {"type": "observation", "data": {"observation": {...}, "reward": null, "done": false, "metadata": {...}}}
    -> {"type": "step", "data": {<DrugTargetAction fields>}}        # data is the bare action
    <- {"type": "observation", "data": {"observation": {...}, "reward": 0.05, "done": false, "metadata": {...}}}
    -> {"type": "state"}
    <- {"type": "state", "data": {<DrugTargetState fields>}}
    -> {"type": "close"}                                              # no reply; the server closes the socket
    <- {"type": "error", "data": {"message": "...", "code": "VALIDATION_ERROR", "errors": [...]}}

``observation`` holds every ``ValidationObservation`` field except ``reward`` and ``done``, which
sit beside it; ``metadata`` (the observation's public metadata) is repeated at the top level when
non-empty, exactly like ``openenv.core.env_server.serialization.serialize_observation``.

Error codes: the first seven are OpenEnv's ``WSErrorCode``; the last four are DrugEnv extensions
(an OpenEnv client raises ``RuntimeError("Server error: <message> (code: <CODE>)")`` for any code).

| code              | when                                                                   | session  |
|-------------------|------------------------------------------------------------------------|----------|
| INVALID_JSON      | the frame is not UTF-8 JSON (NaN/Infinity count as invalid)            | kept     |
| UNKNOWN_TYPE      | ``type`` is not reset / step / state / close / mcp                     | kept     |
| VALIDATION_ERROR  | bad frame shape, bad reset arguments, or an action failing its schema  | kept     |
| EXECUTION_ERROR   | the environment raised (details only in the server log)                | kept     |
| CAPACITY_REACHED  | every session slot is taken (sent on connect, then the socket closes)  | refused  |
| FACTORY_ERROR     | the environment could not be constructed                               | refused  |
| SESSION_ERROR     | unexpected server-side failure of the session                          | closed   |
| MESSAGE_TOO_LARGE | the frame exceeds the server's ``max_message_bytes``                   | kept     |
| NOT_RESET         | ``step`` before the first ``reset`` of the connection                  | kept     |
| EPISODE_DONE      | ``step`` after the episode ended (strict action mode); reset first     | kept     |
| IDLE_TIMEOUT      | no frame for ``idle_timeout_s`` seconds (then the socket closes)       | closed   |

Frames and HTTP bodies are decoded by one strict decoder, ``loads_json``: UTF-8, and no ``NaN`` /
``Infinity`` (Python's ``json`` accepts them; JSON does not). A number literal past a double's range
(``1e400``) is valid JSON: it decodes to infinity, which every numeric field refuses.

Errors never echo the client's value: ``errors`` items (and the HTTP 422 ``detail`` items) are
``{"loc": [...], "msg": "...", "type": "..."}`` only. The value may be what cannot be encoded back
(a lone surrogate such as ``"\\ud800"``, infinity), and echoing it turned a bad body into a 500.
"""

from __future__ import annotations

import json
import math
import re
import sys
from enum import Enum
from typing import Any, Iterable, Literal, Mapping, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import to_json

from drugenv.actions import ActionType
from drugenv.models import (
    FINDING_SECTIONS,
    DrugTargetState,
    EvidenceDossier,
    Finding,
    HistoryEntry,
    IntermediateOutput,
    RuleViolation,
    ValidationObservation,
)
from drugenv.simulator.params import Difficulty
from drugenv.scenarios.procedural import TRAINING_SEEDS_END
from drugenv.simulator.environment import MAX_EPISODE_ID_CHARS, MAX_SEED
from drugenv.simulator.rules import utf8_text


class ErrorCode(str, Enum):
    """``data.code`` of an error frame (see the module docstring for when each is sent)."""

    INVALID_JSON = "INVALID_JSON"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    EXECUTION_ERROR = "EXECUTION_ERROR"
    CAPACITY_REACHED = "CAPACITY_REACHED"
    FACTORY_ERROR = "FACTORY_ERROR"
    SESSION_ERROR = "SESSION_ERROR"
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
    NOT_RESET = "NOT_RESET"
    EPISODE_DONE = "EPISODE_DONE"
    IDLE_TIMEOUT = "IDLE_TIMEOUT"


class ResetRequest(BaseModel):
    """Arguments of ``reset`` (the ``data`` of a WS reset frame, or the body of ``POST /reset``)."""

    model_config = ConfigDict(extra="forbid")

    seed: Optional[int] = Field(None, ge=0, le=MAX_SEED, strict=True,
                                description="Episode seed; the same seed and actions give the same episode. "
                                f"None: a random training seed (below {TRAINING_SEEDS_END:,}).")
    episode_id: Optional[str] = Field(None, min_length=1, max_length=MAX_EPISODE_ID_CHARS,
                                      description="Id echoed in the observation metadata and state. None: derived from the seed.")
    scenario: Optional[str] = Field(None, min_length=1, max_length=100,
                                    description="'procedural' (default: generated from the seed) or a curated scenario name.")
    difficulty: Optional[Difficulty] = Field(None, description="Procedural difficulty tier. None: drawn from the seed.")


class StepRequest(BaseModel):
    """Body of ``POST /step`` (OpenEnv's shape; ``timeout_s`` and ``request_id`` are accepted and ignored)."""

    model_config = ConfigDict(extra="forbid")

    action: dict[str, Any] = Field(..., description="A DrugTargetAction as JSON.")
    timeout_s: Optional[float] = Field(None, gt=0, strict=True, allow_inf_nan=False,
                                       description="Ignored (OpenEnv compatibility).")
    request_id: Optional[str] = Field(None, max_length=255, description="Ignored (OpenEnv compatibility).")


class StepResponse(BaseModel):
    """Body of ``POST /reset`` and ``POST /step`` responses (also the ``data`` of an observation frame)."""

    observation: dict[str, Any] = Field(..., description="ValidationObservation fields except reward and done.")
    reward: Optional[float] = None
    done: bool = False
    metadata: Optional[dict[str, Any]] = None


class EnvironmentMetadata(BaseModel):
    """Body of ``GET /metadata`` (OpenEnv's ``EnvironmentMetadata``)."""

    name: str
    description: str
    readme_content: Optional[str] = None
    version: Optional[str] = None
    author: Optional[str] = None
    documentation_url: Optional[str] = None


class HealthResponse(BaseModel):
    """Body of ``GET /health``: OpenEnv's ``status`` plus the session counters."""

    status: Literal["healthy", "unhealthy", "degraded"] = "healthy"
    active_sessions: int = 0
    max_sessions: int = 0


# --------------------------------------------------------------------------------------------- frames
_OBS_EXCLUDE = {"reward", "done"}


def _reward_json(reward: Optional[float]) -> str:
    # json.dumps builds an encoder for every call (~2 us for one number); for None and a finite float
    # its text is "null" and float.__repr__, so those two are written directly (anything else: json.dumps).
    if reward is None:
        return "null"
    if type(reward) is float and math.isfinite(reward):
        return float.__repr__(reward)
    return json.dumps(reward)


def observation_data(obs: ValidationObservation, *, http: bool = False) -> str:
    """JSON text of the observation payload ``{"observation", "reward", "done"[, "metadata"]}``.

    Over the WebSocket ``metadata`` is present only when non-empty (OpenEnv's serializer); the
    HTTP responses always carry it (``null`` when empty).
    """
    body = obs.model_dump_json(exclude=_OBS_EXCLUDE)
    head = f'{{"observation":{body},"reward":{_reward_json(obs.reward)},"done":{"true" if obs.done else "false"}'
    if obs.metadata:
        return f'{head},"metadata":{to_json(obs.metadata).decode()}}}'
    return head + (',"metadata":null}' if http else "}")


def observation_frame(obs: ValidationObservation) -> str:
    return f'{{"type":"observation","data":{observation_data(obs)}}}'


# What ``EpisodeObservationData`` serializes itself; pydantic writes the rest of the observation.
_KEPT_FIELDS = {"dossier", "pipeline_history", "legal_actions", "metadata"}
_REST_EXCLUDE = _OBS_EXCLUDE | _KEPT_FIELDS
_LEGAL_ADAPTER = TypeAdapter(list[ActionType])
# The models' own serializers, called as model_dump_json calls them (without its Python wrapper).
_OBSERVATION_JSON = ValidationObservation.__pydantic_serializer__.to_json
_FINDING_JSON = Finding.__pydantic_serializer__.to_json
_ENTRY_JSON = HistoryEntry.__pydantic_serializer__.to_json
_EMPTY_DOSSIER_JSON = EvidenceDossier().model_dump_json()
# One text per set of legal actions (a handful occur): each member is written through the enum's
# Python-level ``value``, ~4 us for the 21 of a running episode.
_LEGAL_JSON: dict[tuple[ActionType, ...], str] = {}


class EpisodeObservationData:
    """``observation_data(obs)`` for one session's observations in step order, the same text made from
    kept pieces: the server's encoder for an environment that lends it its records.

    Serializing the whole observation was ~20% of the server's work on a step frame (the socket's
    aside), and it grew with the episode: 16 µs at the first step, 37 µs at the twelfth, most of it
    the dossier and the history. Within an episode the simulator only appends findings, history
    entries and red flags, and never changes a record once written (``DrugTargetEnvironment._snapshot``;
    ``EpisodeUserTurn`` rests on the same), so each finding's and entry's JSON is made once, when
    filed, and a step joins them; the legal actions' text is kept per set. pydantic still writes the
    rest (header, last output, violations, reward breakdown), and the kept pieces go where pydantic
    puts those fields: the dossier and history just before ``latest_output``, the legal actions and
    metadata last (``done`` and ``reward`` sit outside). An observation whose history does not continue
    the kept one (a reset, another episode) starts afresh.

    Trusting the records is only right for an environment that hands out its own append-only records
    (``SessionRegistry.open`` uses this for ``DrugTargetEnvironment`` itself, never a subclass);
    ``tests/server/test_observation_data.py`` compares the texts over whole episodes."""

    def __init__(self) -> None:
        self._start()

    def _start(self) -> None:
        self._entries_read, self._last_entry = 0, None
        self._history = ""  # the entries' JSON joined by commas
        self._sections: dict[str, list[str]] = {sec: [] for sec in FINDING_SECTIONS}
        self._flags_read = 0
        self._dossier = _EMPTY_DOSSIER_JSON

    def __call__(self, obs: ValidationObservation) -> str:
        history = obs.pipeline_history
        n = self._entries_read
        # A step appends one entry, so a continued episode holds the last entry read at the same place
        # (the object itself is kept: its id cannot be reused); a reset's history is empty.
        if not n or len(history) < n or history[n - 1] is not self._last_entry:
            self._start()
            n = 0
        if len(history) > n:
            new = ",".join([_ENTRY_JSON(h).decode() for h in history[n:]])
            self._history = f"{self._history},{new}" if self._history else new
            self._entries_read, self._last_entry = len(history), history[-1]
        dossier = obs.dossier
        changed = False
        for sec, kept in self._sections.items():
            findings: list[Finding] = getattr(dossier, sec)
            if len(findings) > len(kept):
                kept += [_FINDING_JSON(f).decode() for f in findings[len(kept):]]
                changed = True
        flags = dossier.flagged_red_flags
        if changed or len(flags) != self._flags_read:
            self._flags_read = len(flags)
            sections = ",".join([f'"{sec}":[{",".join(kept)}]' for sec, kept in self._sections.items()])
            self._dossier = f'{{{sections},"flagged_red_flags":{to_json(flags).decode()}}}'
        legal_key = tuple(obs.legal_actions)
        legal = _LEGAL_JSON.get(legal_key)
        if legal is None:
            legal = _LEGAL_ADAPTER.dump_json(obs.legal_actions).decode()
            if len(_LEGAL_JSON) >= 256:
                _LEGAL_JSON.clear()
            _LEGAL_JSON[legal_key] = legal
        rest = _OBSERVATION_JSON(obs, exclude=_REST_EXCLUDE).decode()
        # ``rest`` opens with the header's strings and integers, so its first ',"latest_output":' is the
        # key itself (a quote inside a JSON string is escaped).
        cut = rest.index(',"latest_output":')
        metadata = obs.metadata
        body = (f'{rest[:cut]},"dossier":{self._dossier},"pipeline_history":[{self._history}]{rest[cut:-1]},'
                f'"legal_actions":{legal},"metadata":{to_json(metadata, inf_nan_mode="null").decode()}}}')
        head = f'{{"observation":{body},"reward":{_reward_json(obs.reward)},"done":{"true" if obs.done else "false"}'
        if metadata:
            return f'{head},"metadata":{to_json(metadata).decode()}}}'
        return head + "}"

    def frame(self, obs: ValidationObservation) -> str:
        """``observation_frame(obs)``."""
        return f'{{"type":"observation","data":{self(obs)}}}'


def _kept_pieces_match_pydantic() -> bool:
    """Whether ``EpisodeObservationData`` writes ``observation_data``'s text for an observation using
    every field (its assumptions on the models' field order and types); checked at import."""
    fields = list(ValidationObservation.model_fields)
    if (fields[fields.index("latest_output") - 2:fields.index("latest_output")] != ["dossier", "pipeline_history"]
            or [f for f in fields[fields.index("latest_output"):] if f not in _OBS_EXCLUDE][-2:] != ["legal_actions", "metadata"]
            or list(EvidenceDossier.model_fields) != [*FINDING_SECTIONS, "flagged_red_flags"]):
        return False
    findings = {sec: [Finding(step=i, action_type=ActionType.LITERATURE_SEARCH, parameters={"q": "a\"b", "n": [1, 2.5]},
                              summary="µ \n", data={"x": float("nan"), "y": None, "z": {"t": True}}) for i in (1, 2)]
                for sec in FINDING_SECTIONS[:2]}
    history = [HistoryEntry(step=i, action_type="literature_search", parameters={"a": -0.0}, summary="s", cost=1,
                            violations=["redundant"]) for i in (1, 2)]
    obs = ValidationObservation(
        target_gene="G\"", disease_context=",\"latest_output\":", indication="i", credits_remaining=3,
        credits_total=30, step_count=2, max_steps=30, dossier=EvidenceDossier(**findings, flagged_red_flags=["f\u00e9"]),
        pipeline_history=history, latest_output=IntermediateOutput(action_type=ActionType.LITERATURE_SEARCH, data={"k": 1e-7}),
        rule_violations=[RuleViolation(rule="r", severity="soft", message="m")], step_reward_breakdown={"a": 0.1},
        legal_actions=[ActionType.LITERATURE_SEARCH, ActionType.SUBMIT_VALIDATION_REPORT], reward=0.25,
        metadata={"seed": 3, "nan": float("nan"), "s": "x\ty", "none": None})
    empty = obs.model_copy(update={"pipeline_history": [], "dossier": EvidenceDossier(), "legal_actions": [], "metadata": {},
                                   "reward": None})
    return all(EpisodeObservationData()(o) == observation_data(o) for o in (obs, empty))


KEPT_OBSERVATION_DATA = _kept_pieces_match_pydantic()
"""False would mean the models changed shape: the server then serializes every observation whole."""


def state_frame(state: DrugTargetState) -> str:
    return f'{{"type":"state","data":{state.model_dump_json()}}}'


def error_frame(code: ErrorCode, message: str, **extra: Any) -> str:
    return json.dumps({"type": "error", "data": {"message": message, "code": code.value, **extra}})


def error_items(errors: Iterable[Mapping[str, Any]], limit: int = 10) -> list[dict[str, Any]]:
    """pydantic-style error dicts as ``{loc, msg, type}``, at most ``limit``.

    ``input``, ``ctx`` and ``url`` are dropped: the first two can hold the client's value. Location
    parts (an unknown key can be anything the client sent) are cut to 100 characters and escaped so
    the reply always encodes.
    """
    return [{"loc": [utf8_text(x, 100) for x in e.get("loc", ())], "msg": utf8_text(e.get("msg", ""), 300),
             "type": utf8_text(e.get("type", ""), 50)}
            for e in list(errors)[:limit]]


def validation_errors(err: ValidationError, limit: int = 10) -> list[dict[str, Any]]:
    """pydantic errors as ``{loc, msg, type}`` (no ``input`` echo, no ``url``), at most ``limit``."""
    return error_items(err.errors(include_url=False, include_input=False, include_context=False), limit)


class _NotJSON(ValueError):
    """``NaN`` / ``Infinity`` / ``-Infinity``: JavaScript, not JSON."""


def _reject_constant(name: str) -> Any:
    raise _NotJSON(name)


# A JSON string, or the token we are looking for outside strings.
_TOKEN_OUTSIDE_STRINGS = r'"(?:[^"\\]|\\.)*"|({})'


def _offset_of(text: str, token: str) -> int:
    # json reports no position for what its hooks refuse; the text before the token decoded, so
    # skipping whole strings finds it. 0 if not found (then the message still says what is wrong).
    for m in re.finditer(_TOKEN_OUTSIDE_STRINGS.format(token), text):
        if m.group(1) is not None:
            return m.start(1)
    return 0


# A JSON string, or a whole run of digits (with its sign) outside strings: one match per run, so finding
# the long one is linear (a pattern for "N+1 digits" tried again at every digit of every shorter run
# before it cost ~1 s of the event loop for a 64 KiB frame).
_STRING_OR_DIGIT_RUN = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+')


def _offset_of_long_integer(text: str, digits: int) -> int:
    """Where the first integer of more than ``digits`` digits starts (not a fraction's or an exponent's
    digits, which ``float`` takes whatever their length); 0 if none is found."""
    for m in _STRING_OR_DIGIT_RUN.finditer(text):
        run, start = m.group(), m.start()
        if run[0] != '"' and len(run) - (run[0] == "-") > digits and text[start - 1:start] not in (".", "e", "E", "+"):
            return start
    return 0


_STRICT_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
"""What ``json.loads(text, parse_constant=...)`` builds on every call; built once (it holds no state between calls)."""
_BOM_MESSAGE = "Unexpected UTF-8 BOM (decode using utf-8-sig)"  # json.loads' own check, which .decode() skips


def loads_json(data: Union[str, bytes]) -> Any:
    """Decode one JSON text strictly: UTF-8, no ``NaN`` / ``Infinity``, integers within Python's digit limit.

    Raises:
        json.JSONDecodeError: what is wrong and where (line, column); never the offending value.
    """
    if isinstance(data, (bytes, bytearray)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as err:
            head = bytes(data[:err.start]).decode("utf-8")
            raise json.JSONDecodeError("not UTF-8 (JSON text must be UTF-8 encoded)", head, len(head)) from None
    else:
        text = data
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError(_BOM_MESSAGE, text, 0)
    try:
        return _STRICT_DECODER.decode(text)
    except json.JSONDecodeError:
        raise
    except _NotJSON as err:
        raise json.JSONDecodeError(f"{err} is not valid JSON; send a finite number, or null",
                                   text, _offset_of(text, re.escape(str(err)))) from None
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None
    except ValueError:  # int() of a literal past sys.get_int_max_str_digits()
        digits = sys.get_int_max_str_digits()
        raise json.JSONDecodeError(f"an integer has more than {digits} digits", text,
                                   _offset_of_long_integer(text, digits)) from None


def parse_step_data(data: dict[str, Any]) -> tuple[ValidationObservation, Optional[float], bool, dict[str, Any]]:
    """Client side: an observation payload back into ``(observation, reward, done, metadata)``. A payload of
    another shape raises ``ValueError`` (pydantic's ``ValidationError`` for the observation's fields)."""
    reward, done, observation, metadata = data.get("reward"), data.get("done", False), data.get("observation", {}), data.get("metadata")
    if not isinstance(done, bool):  # bool("no") is True
        raise ValueError(f"done must be true or false, got {type(done).__name__}")
    if not isinstance(observation, dict) or not isinstance(metadata, (dict, type(None))):
        raise ValueError("observation must be an object, and metadata an object or null")
    obs = ValidationObservation.model_validate({**observation, "reward": reward, "done": done})
    return obs, obs.reward, done, dict(metadata or {})


__all__ = [
    "EnvironmentMetadata",
    "EpisodeObservationData",
    "ErrorCode",
    "HealthResponse",
    "KEPT_OBSERVATION_DATA",
    "MAX_SEED",
    "ResetRequest",
    "StepRequest",
    "StepResponse",
    "error_frame",
    "error_items",
    "loads_json",
    "observation_data",
    "observation_frame",
    "parse_step_data",
    "state_frame",
    "validation_errors",
]
