"""``DrugTargetEnv``: talk to a DrugEnv server (or any OpenEnv 0.10 server of this environment) over ``/ws``.

One client is one WebSocket is one server-side environment, so one client plays one episode at
a time; open one client per concurrent rollout. ``DrugTargetEnv`` is blocking,
``AsyncDrugTargetEnv`` is its asyncio twin; both are context managers::

    from drugenv import DrugTargetAction, DrugTargetEnv

    with DrugTargetEnv(base_url="http://127.0.0.1:8000") as env:
        result = env.reset(seed=0, scenario="egfr_nsclc_viable")
        result = env.step(DrugTargetAction(action_type="query_expression", parameters={"database": "GTEx"}))
        print(result.observation.latest_output.summary, result.reward, result.done)

The client only builds frames and ``model_validate``s replies; it needs ``websockets`` (the
``server`` extra), not the ``openenv`` package.

Exceptions::

    DrugEnvError
     ├── EnvConnectionError (ConnectionError)   could not connect, the socket closed, no reply in time, or the
     │                                          client was closed; the server-side episode is gone: reset()
     │                                          to start again
     ├── WrongEventLoopError (RuntimeError)     an AsyncDrugTargetEnv was called from another event loop than
     │                                          the one that opened its socket: one loop per client
     └── EnvServerError                         the server answered with an error frame (.code, .message, .data),
          │                                     or with a reply the client cannot read (code PROTOCOL)
          ├── SessionEndedError                 the server ended the session (IDLE_TIMEOUT, SESSION_ERROR,
          │   (EnvConnectionError)              FACTORY_ERROR) and closed the socket: reset() to start again
          ├── CapacityReachedError              every session slot is taken (CAPACITY_REACHED): retry later
          └── InvalidRequestError (ValueError)  the frame was refused (VALIDATION_ERROR, NOT_RESET, EPISODE_DONE,
                                                INVALID_JSON, UNKNOWN_TYPE, MESSAGE_TOO_LARGE); the session is intact

``reset()`` on a session that has ended opens a new one by itself (a reset loses nothing). A call
interrupted between its frame and the reply (a cancelled task, Ctrl-C) drops the socket, so no later
call reads a reply that was not its own; one client's calls are serialised by a lock.

``close()`` ends the session, and no call reopens one behind its back: a call that was waiting for
the lock (another thread's or task's) while ``close()`` ran raises ``EnvConnectionError`` instead of
connecting again, and so do ``step()`` and ``state()`` on a closed client. ``reset()``, ``connect()``
or ``with`` after ``close()`` open a new session, as on a new client.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import urllib.parse
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

import numpy as np
from pydantic import ValidationError

from drugenv.errors import ConfigError, DependencyNotInstalled, DrugEnvError
from drugenv.models import DrugTargetAction, DrugTargetState, ValidationObservation
from drugenv.server.protocol import ErrorCode, loads_json, parse_step_data

ActionLike = Union[DrugTargetAction, Mapping[str, Any]]


# ============================================================================================ results, errors
@dataclass
class StepResult:
    """What ``reset`` and ``step`` return (OpenEnv's ``StepResult`` shape, typed)."""

    observation: ValidationObservation
    reward: Optional[float] = None
    """Step reward (None after reset); also ``observation.reward``."""
    done: bool = False
    """The episode has ended (report submitted, credits exhausted, or step cap)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Public episode metadata (episode_id, seed, difficulty, termination_reason, truncated)."""


class EnvConnectionError(DrugEnvError, ConnectionError):
    """Raised when the server cannot be reached, closes the socket, or does not reply in time.

    The server-side environment of that socket is gone; the next call opens a new session, so
    call ``reset()`` before stepping again. Also raised by a call on a client that ``close()`` closed
    (only ``reset()`` or ``connect()`` open a new session then), or that was waiting for it while it closed.
    """


class EnvServerError(DrugEnvError):
    """Raised when the server answers with an error frame; ``code`` is its ``ErrorCode`` value."""

    def __init__(self, code: str, message: str, data: Optional[dict[str, Any]] = None):
        self.code, self.message, self.data = code, message, dict(data or {})
        super().__init__(f"{message}{_error_details(self.data)} (code: {code})")

    def __reduce__(self) -> tuple:
        return type(self), (self.code, self.message, self.data)


def _error_details(data: dict[str, Any], shown: int = 3) -> str:
    """``": loc: msg; ..."`` of the first ``shown`` schema errors of an error frame's ``data["errors"]``,
    so the exception's text says what was wrong (it said only "invalid action", the reason in ``data``)."""
    errors = data.get("errors")
    if not isinstance(errors, list) or not errors:
        return ""
    parts = []
    for e in errors[:shown]:
        if isinstance(e, dict):
            where = e.get("loc") or ()  # pydantic's is a list; a server may send a string, or a bare number
            loc = ".".join(str(x) for x in where) if isinstance(where, (list, tuple)) else str(where)
            loc = loc or "frame"
            parts.append(f"{loc}: {e.get('msg', '?')}")
    more = len(errors) - shown
    return (": " + "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")) if parts else ""


class SessionEndedError(EnvServerError, EnvConnectionError):
    """Raised when the server ends the session with an error frame (``IDLE_TIMEOUT``: no frame for its
    idle timeout; ``SESSION_ERROR``, ``FACTORY_ERROR``) and closes the socket. Like any
    ``EnvConnectionError``, the next call opens a new session; ``reset()`` does so by itself."""


class WrongEventLoopError(DrugEnvError, RuntimeError):
    """Raised when an ``AsyncDrugTargetEnv`` is called from another event loop than the one its socket was
    opened in (an ``asyncio.run`` per call): a socket belongs to one loop. Keep the client's episodes
    inside one ``asyncio.run(...)``, or make one client per loop."""


class CapacityReachedError(EnvServerError):
    """Raised when every session slot of the server is taken; retry later or raise ``--max-sessions``."""


class InvalidRequestError(EnvServerError, ValueError):
    """Raised when the server refuses a frame (bad action, step before reset or after done, ...).

    The session and its episode are unchanged; ``data["errors"]`` lists schema errors when there are any.
    """


_REFUSED = {ErrorCode.VALIDATION_ERROR.value, ErrorCode.INVALID_JSON.value, ErrorCode.UNKNOWN_TYPE.value,
            ErrorCode.MESSAGE_TOO_LARGE.value, ErrorCode.NOT_RESET.value, ErrorCode.EPISODE_DONE.value}


_SESSION_ENDED = {ErrorCode.IDLE_TIMEOUT.value, ErrorCode.SESSION_ERROR.value, ErrorCode.FACTORY_ERROR.value}


def _raise_for_error(frame: dict[str, Any]) -> None:
    data = frame.get("data")
    if not isinstance(data, dict):
        data = {}
    code, message = str(data.get("code", "UNKNOWN")), str(data.get("message", "unknown error"))
    if code == ErrorCode.CAPACITY_REACHED.value:
        raise CapacityReachedError(code, message, data)
    if code in _SESSION_ENDED:
        raise SessionEndedError(code, message, data)
    if code in _REFUSED:
        raise InvalidRequestError(code, message, data)
    raise EnvServerError(code, message, data)


# ============================================================================================ frames
_WS_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def server_ws_url(base_url: str) -> str:
    """The WebSocket URL of the server at ``base_url``: ``http``/``https`` become ``ws``/``wss`` (schemes in any
    case), ``/ws`` goes at the end of the path (after a prefix such as a proxy's ``/drugenv``; a path that already
    ends in ``/ws`` is kept), and a query (a proxy's ``?token=...``) is kept after it. A ``#`` is refused: a
    fragment is never sent, so it is most likely part of a token that was not percent-encoded (``%23``).

    Raises:
        ConfigError (a ``ValueError``): a URL the client cannot connect to, named.
    """
    try:
        parts = urllib.parse.urlsplit(base_url)
        parts.port  # noqa: B018 - parsed on access: a port that is no number (or out of range) raises here
    except ValueError as e:  # an unclosed IPv6 bracket, a port that is no number: a bare ValueError traceback
        raise ConfigError(f"base_url={base_url!r} is not a URL the client can connect to ({e})") from None
    scheme = _WS_SCHEMES.get(parts.scheme.lower())
    if scheme is None:
        raise ConfigError(f"base_url={base_url!r} must start with http://, https://, ws:// or wss://")
    if not parts.netloc:
        raise ConfigError(f"base_url={base_url!r} has no host; expected e.g. http://127.0.0.1:8000")
    if "#" in base_url:
        raise ConfigError(f"base_url={base_url!r} has a fragment ('#...'), which is never sent to the server; "
                         "write a '#' inside a query value as %23")
    path = parts.path.rstrip("/")
    if not path.endswith("/ws"):
        path += "/ws"
    return urllib.parse.urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def _json_value(value: Any) -> Any:
    """``json.dumps``'s fallback: a numpy scalar or array (a seed from a dataset's column, a confidence from a
    policy's output) as the Python value the in-process environment reads from it, so the server plays the same
    episode; anything else JSON cannot hold is a ``TypeError`` naming it."""
    if isinstance(value, np.floating):
        return float(value)  # np.longdouble's .tolist() is itself, which json would hand back here forever
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()  # a numpy scalar's .tolist() is its Python value, as .item() is
    raise TypeError(f"a value of type {type(value).__name__} cannot be sent to the server as JSON: {value!r:.80}")


def _reset_frame(seed: Optional[int], episode_id: Optional[str], scenario: Optional[str], difficulty: Optional[str]) -> str:
    data = {k: v for k, v in (("seed", seed), ("episode_id", episode_id), ("scenario", scenario),
                              ("difficulty", difficulty)) if v is not None}
    return json.dumps({"type": "reset", "data": data}, default=_json_value)


def _step_frame(action: ActionLike) -> str:
    if isinstance(action, DrugTargetAction):
        return f'{{"type":"step","data":{action.model_dump_json()}}}'
    if isinstance(action, Mapping):
        frame = {"type": "step", "data": dict(action)}
        try:
            return json.dumps(frame, default=_json_value, allow_nan=False)
        except ValueError as e:
            if "Out of range float" not in str(e):  # a cycle ("Circular reference detected"): no JSON for it
                raise TypeError(f"the action cannot be sent as JSON: {e}") from None
            # a NaN or an infinity: JSON has none, and the server refuses the frame unread
            text = json.dumps(_non_finite_as_marker(frame), default=_json_value, allow_nan=False)
            return text.replace(_MARKER_JSON["+"], "1e400").replace(_MARKER_JSON["-"], "-1e400")
        except RecursionError:
            raise TypeError("the action is nested too deeply to send as JSON") from None
    raise TypeError(f"action must be a DrugTargetAction or a dict, got {type(action).__name__}")


_MARKER = {"+": "\x00drugenv:+1e400\x00", "-": "\x00drugenv:-1e400\x00"}
_MARKER_JSON = {sign: json.dumps(marker) for sign, marker in _MARKER.items()}


def _non_finite_as_marker(value: Any) -> Any:
    """``value`` with every NaN or infinite real number (a Python float, any numpy floating scalar, an element
    of a numpy array) replaced by a marker string that ``_step_frame`` then writes as the number ``1e400`` or
    ``-1e400``: valid JSON, which the server reads as an infinity. A parsed LLM reply may hold one (``json.loads``
    reads ``NaN``), a policy's output a ``np.float32`` one. The server then judges the field as the in-process
    environment judges the NaN or infinity (pydantic says the same of both), so the episode is the same step
    for step (with ``--no-strict-actions``, a penalised step in both); a bare ``NaN`` was an ``INVALID_JSON``
    refusal that took no step, and the text "nan" was judged as a string, a different violation message that
    stayed in the episode's history (the wire audit)."""
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return _MARKER["-" if value < 0 else "+"]
    if isinstance(value, np.ndarray):
        return _non_finite_as_marker(value.tolist())
    if isinstance(value, Mapping):
        return {k: _non_finite_as_marker(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_non_finite_as_marker(v) for v in value]
    return value


def _result(raw: Union[str, bytes], expected: str) -> dict[str, Any]:
    try:
        frame = loads_json(raw)  # the server's own strict decoder
    except ValueError as e:
        raise EnvServerError("PROTOCOL", f"the server's reply is not JSON ({e})") from None
    if not isinstance(frame, dict):
        raise EnvServerError("PROTOCOL", f"expected a JSON object frame, got {type(frame).__name__}")
    if frame.get("type") == "error":
        _raise_for_error(frame)
    if frame.get("type") != expected or not isinstance(frame.get("data"), dict):
        raise EnvServerError("PROTOCOL", f"expected a {expected!r} frame, got {str(frame)[:200]}")
    return frame["data"]


def _protocol_error(what: str, err: Exception) -> EnvServerError:
    """A reply the client cannot read as ``what``: the server speaks another protocol version, or is not DrugEnv's."""
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()[:3]) \
        if isinstance(err, ValidationError) else str(err)
    return EnvServerError("PROTOCOL", f"the server's {what} does not match drugenv's models ({detail[:300]})")


def _step_result(data: dict[str, Any]) -> StepResult:
    try:
        obs, reward, done, metadata = parse_step_data(data)
    except (ValueError, TypeError) as e:  # pydantic's ValidationError is a ValueError
        raise _protocol_error("observation", e) from None
    return StepResult(observation=obs, reward=reward, done=done, metadata=metadata)


def _state_result(data: dict[str, Any]) -> DrugTargetState:
    try:
        return DrugTargetState.model_validate(data)
    except ValidationError as e:
        raise _protocol_error("state", e) from None


def _session_gone(err: EnvConnectionError) -> bool:
    """Whether ``err`` says the socket's session has ended (closed, or ended by the server), so that a
    reset can simply open a new one; not a server that is slow to reply (a reset would wait as long again)."""
    import asyncio

    return not isinstance(err.__cause__, (TimeoutError, asyncio.TimeoutError))


class _Options:
    def __init__(self, base_url: str, connect_timeout_s: float, message_timeout_s: float, max_message_bytes: int,
                 ping_interval_s: Optional[float]):
        self.base_url, self.ws_url = base_url, server_ws_url(base_url)
        self.connect_timeout_s, self.message_timeout_s = connect_timeout_s, message_timeout_s
        self.max_message_bytes, self.ping_interval_s = max_message_bytes, ping_interval_s


class _ClientBase:
    """Connection options and socket slot shared by the sync and async clients."""

    def __init__(self, base_url: str, *, connect_timeout_s: float = 10.0, message_timeout_s: float = 60.0,
                 max_message_bytes: int = 16 << 20, ping_interval_s: Optional[float] = 20.0):
        self._opt = _Options(base_url, connect_timeout_s, message_timeout_s, max_message_bytes, ping_interval_s)
        self._stack: Any = None
        self._ws: Any = None
        self._lock = threading.Lock()  # the sync client's
        self._alock: Any = None  # the async client's asyncio.Lock, made in its event loop
        self._loop: Any = None  # the async client's event loop: its lock's and its socket's
        self._closed = False  # close() ran, and no reset()/connect() since: step() and state() are refused
        self._closes = 0  # close() calls so far: a call that began before one must not reconnect after it

    @property
    def base_url(self) -> str:
        return self._opt.base_url

    def _mark_closed(self) -> None:
        self._closed = True
        self._closes += 1

    def _check_open(self, closes: int, reopen: bool) -> None:
        """Raise ``EnvConnectionError`` unless a call that began when ``close()`` had run ``closes`` times may use
        or open the socket: not once ``close()`` has run since (the call waited for another call's reply), nor a
        ``step()``/``state()`` on a closed client (``reopen``: a reset, which may start a new session)."""
        if self._closes != closes:
            raise EnvConnectionError(f"the client of {self._opt.ws_url} was closed (close()) before this call could "
                                     "send its frame; nothing was sent (reset() opens a new session)")
        if self._closed and not reopen:
            raise EnvConnectionError(f"the client of {self._opt.ws_url} is closed (close()); reset() opens a new "
                                     "session")
        self._closed = False


# ============================================================================================ sync
class DrugTargetEnv(_ClientBase):
    """Blocking client of one server-side ``DrugTargetEnvironment`` (one WebSocket).

    Args:
        base_url: ``http(s)://host:port`` or ``ws(s)://host:port`` of the server, with a path prefix and a
            query if a proxy needs them (``/ws`` is added to the path, the query kept; no ``#fragment``).
        connect_timeout_s: seconds to open the socket.
        message_timeout_s: seconds to wait for each reply; on timeout the socket is dropped.
        max_message_bytes: largest reply accepted, bytes (observations are a few KiB to ~100 KiB).
        ping_interval_s: keepalive ping interval, seconds (None: no pings).
    """

    def connect(self) -> "DrugTargetEnv":
        """Open the WebSocket now (otherwise the first call opens it); after ``close()``, a new session."""
        self._closed = False
        return self._open()

    def _open(self) -> "DrugTargetEnv":
        if self._ws is not None:
            return self
        try:
            from websockets.sync.client import connect
        except ImportError as e:  # pragma: no cover - the server extra is missing
            raise DependencyNotInstalled("websockets", "server") from e
        stack = ExitStack()
        try:
            self._ws = stack.enter_context(connect(
                self._opt.ws_url, open_timeout=self._opt.connect_timeout_s, max_size=self._opt.max_message_bytes,
                ping_interval=self._opt.ping_interval_s, close_timeout=2))
        except Exception as e:
            stack.close()
            raise EnvConnectionError(f"could not connect to {self._opt.ws_url}: {e}") from e
        self._stack = stack
        return self

    def reset(self, seed: Optional[int] = None, episode_id: Optional[str] = None, scenario: Optional[str] = None,
              difficulty: Optional[str] = None) -> StepResult:
        """Start an episode (see ``DrugTargetEnvironment.reset``); returns the first observation.

        A reset loses nothing, so when the session it was sent on had ended (the server's idle
        timeout, a restart, a dropped socket) it opens a new one and is sent once more; after ``close()``, too."""
        frame, closes = _reset_frame(seed, episode_id, scenario, difficulty), self._closes
        reused = self._ws is not None
        try:
            return _step_result(self._call(frame, "observation", closes, reopen=True))
        except EnvConnectionError as e:
            if not (reused and _session_gone(e)) or self._closes != closes:
                raise
        return _step_result(self._call(frame, "observation", closes, reopen=True))

    def step(self, action: ActionLike) -> StepResult:
        """Take one action; raises ``InvalidRequestError`` if the server refuses it, ``EnvConnectionError``
        after ``close()``."""
        return _step_result(self._call(_step_frame(action), "observation", self._closes))

    def state(self) -> DrugTargetState:
        """Visible bookkeeping of the current episode (``EnvConnectionError`` after ``close()``)."""
        return _state_result(self._call('{"type":"state"}', "state", self._closes))

    def close(self) -> None:
        """End the session (the server frees its slot); a call waiting for the client's lock raises instead of
        reconnecting. Idempotent."""
        self._mark_closed()
        if self._ws is None:
            return
        ws, stack, self._ws, self._stack = self._ws, self._stack, None, None
        try:
            ws.send('{"type":"close"}')
        except Exception:  # noqa: BLE001 - already closed
            pass
        try:
            assert stack is not None
            stack.close()
        except Exception:  # noqa: BLE001
            pass

    def _drop(self) -> None:
        ws, stack, self._ws, self._stack = self._ws, self._stack, None, None
        if stack is not None:
            try:
                # Shut the socket, not close it: a server that stopped answering never answers the closing
                # handshake either, and waiting for it (close_timeout) made a 3 s message timeout a 5 s one.
                ws.close_socket()
                stack.close()
            except Exception:  # noqa: BLE001
                pass

    def _call(self, frame: str, expected: str, closes: int, reopen: bool = False) -> dict[str, Any]:
        """Send ``frame`` and read its reply, for a call that began when ``close()`` had run ``closes`` times."""
        with self._lock:  # one frame and its reply at a time: threads sharing a client would read each other's
            self._check_open(closes, reopen)
            self._open()
            if self._closes != closes:  # close() ran while the socket was opening, and found none to close
                self._drop()
                self._check_open(closes, reopen)
            ws = self._ws
            try:
                ws.send(frame)
                raw = ws.recv(timeout=self._opt.message_timeout_s)
            except TimeoutError as e:
                self._drop()
                raise EnvConnectionError(f"no reply from {self._opt.ws_url} within {self._opt.message_timeout_s} s; "
                                         "the connection was dropped (reset() to start again)") from e
            except Exception as e:  # websockets.ConnectionClosed and socket errors
                pending = _pending_frame_sync(ws)
                self._drop()
                if pending is not None:
                    _result(pending, expected)
                how = "closed by close() during the call" if self._closes != closes else f"closed: {e}"
                raise EnvConnectionError(f"connection to {self._opt.ws_url} {how} (reset() to start again)") from e
            except BaseException:  # KeyboardInterrupt between send and reply: the reply would be read by the next call
                self._drop()
                raise
            try:
                return _result(raw, expected)
            except (CapacityReachedError, SessionEndedError):
                self._drop()
                raise

    def __enter__(self) -> "DrugTargetEnv":
        return self.connect()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self._drop()
        except Exception:  # noqa: BLE001
            pass


def _pending_frame_sync(ws: Any) -> Optional[str]:
    """A frame the server sent before closing (e.g. CAPACITY_REACHED, IDLE_TIMEOUT), if one is queued."""
    try:
        return ws.recv(timeout=0)
    except Exception:  # noqa: BLE001
        return None


# ============================================================================================ async
class AsyncDrugTargetEnv(_ClientBase):
    """asyncio twin of ``DrugTargetEnv`` (same arguments; ``await`` every call, ``async with``).

    Its socket belongs to the event loop that opened it: call the client from that loop only, e.g. play
    the whole episode inside one ``asyncio.run(...)``, not one ``asyncio.run`` per call. A call from
    another loop raises ``WrongEventLoopError`` before it touches the socket; if the socket's loop has
    closed, its session is gone, and the socket is let go of (the server frees the slot), so a
    ``reset()`` in the new loop starts again. ``close()`` works from any loop. Once the client has no
    socket (closed, or never opened), the next call's loop becomes its loop.
    """

    async def connect(self) -> "AsyncDrugTargetEnv":
        """Open the WebSocket now (otherwise the first call opens it); after ``close()``, a new session."""
        self._bind_loop()
        self._closed = False
        return await self._open()

    def _bind_loop(self) -> None:
        """Make the running event loop this client's, or raise ``WrongEventLoopError`` if its socket (or a
        call holding its lock) belongs to another; a socket whose loop has closed is let go of first."""
        import asyncio

        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        if self._ws is None and not (self._alock is not None and self._alock.locked()):
            # No socket and no call in progress: nothing ties the client to its old loop (an asyncio.Lock
            # does, once a task has waited on it, so it is made anew).
            self._loop, self._alock = loop, asyncio.Lock()
            return
        if self._loop is not None and self._loop.is_closed():
            self._let_go()
            raise WrongEventLoopError(
                f"this AsyncDrugTargetEnv's socket to {self._opt.ws_url} was opened in another event loop, which has "
                "closed since (an asyncio.run() per call?), so its session is gone. A client belongs to the event "
                "loop that opened its socket: keep the episode inside one asyncio.run(...), or make one client per "
                "loop (a reset() now starts a new session in this loop)")
        raise WrongEventLoopError(
            f"this AsyncDrugTargetEnv's socket to {self._opt.ws_url} belongs to another event loop, which is still "
            "open: call it from that loop, or close() it and reset() in this one. A client belongs to the event "
            "loop that opened its socket: make one client per loop")

    def _let_go(self) -> None:
        """Forget the socket without its event loop (closed, or another thread's): shut the TCP connection down,
        so the server sees it end and frees the slot (the loop cannot run the closing handshake). A closed loop
        will never close the socket itself: it is closed here (it held a file descriptor until garbage collection,
        then warned of an unclosed transport); an open loop's transport is left for that loop to close."""
        ws, self._ws, self._stack = self._ws, None, None
        transport = getattr(ws, "transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:  # already shut down, or reset by the server
                pass
            if self._loop is not None and self._loop.is_closed():
                # transport.abort() needs the loop; asyncio's selector transports keep the socket as _sock, and
                # one whose _sock is None is closed as far as its finaliser goes
                raw = getattr(transport, "_sock", None)
                if raw is not None:
                    raw.close()
                    setattr(transport, "_sock", None)

    async def _open(self) -> "AsyncDrugTargetEnv":
        if self._ws is not None:
            return self
        try:
            from websockets.asyncio.client import connect
        except ImportError as e:  # pragma: no cover
            raise DependencyNotInstalled("websockets", "server") from e
        stack = AsyncExitStack()
        try:
            self._ws = await stack.enter_async_context(connect(
                self._opt.ws_url, open_timeout=self._opt.connect_timeout_s, max_size=self._opt.max_message_bytes,
                ping_interval=self._opt.ping_interval_s, close_timeout=2))
        except Exception as e:
            await stack.aclose()
            raise EnvConnectionError(f"could not connect to {self._opt.ws_url}: {e}") from e
        self._stack = stack
        return self

    async def reset(self, seed: Optional[int] = None, episode_id: Optional[str] = None, scenario: Optional[str] = None,
                    difficulty: Optional[str] = None) -> StepResult:
        """Start an episode; returns the first observation (on a session that had ended, a new one:
        see ``DrugTargetEnv.reset``)."""
        frame, closes = _reset_frame(seed, episode_id, scenario, difficulty), self._closes
        reused = self._ws is not None
        try:
            return _step_result(await self._call(frame, "observation", closes, reopen=True))
        except EnvConnectionError as e:
            if not (reused and _session_gone(e)) or self._closes != closes:
                raise
        return _step_result(await self._call(frame, "observation", closes, reopen=True))

    async def step(self, action: ActionLike) -> StepResult:
        """Take one action; raises ``InvalidRequestError`` if the server refuses it, ``EnvConnectionError``
        after ``close()``."""
        return _step_result(await self._call(_step_frame(action), "observation", self._closes))

    async def state(self) -> DrugTargetState:
        """Visible bookkeeping of the current episode (``EnvConnectionError`` after ``close()``)."""
        return _state_result(await self._call('{"type":"state"}', "state", self._closes))

    async def close(self) -> None:
        """End the session (the server frees its slot); a call waiting for the client's lock raises instead of
        reconnecting. Idempotent; works from any event loop."""
        import asyncio

        self._mark_closed()
        if self._ws is None:
            return
        if self._loop is not asyncio.get_running_loop():  # the socket's loop cannot be awaited from this one
            self._let_go()
            return
        ws, stack, self._ws, self._stack = self._ws, self._stack, None, None
        try:
            await ws.send('{"type":"close"}')
        except Exception:  # noqa: BLE001
            pass
        try:
            assert stack is not None
            await stack.aclose()
        except Exception:  # noqa: BLE001
            pass

    async def _drop(self) -> None:
        ws, stack, self._ws, self._stack = self._ws, self._stack, None, None
        if stack is not None:
            try:
                ws.transport.abort() if getattr(ws, "transport", None) is not None else None
                await stack.aclose()
            except Exception:  # noqa: BLE001
                pass

    async def _call(self, frame: str, expected: str, closes: int, reopen: bool = False) -> dict[str, Any]:
        """Send ``frame`` and read its reply, for a call that began when ``close()`` had run ``closes`` times."""
        import asyncio

        self._bind_loop()  # before the lock, which may be the other loop's too
        async with self._alock:  # one frame and its reply at a time: concurrent tasks would read each other's
            self._check_open(closes, reopen)
            await self._open()
            if self._closes != closes:  # close() ran while the socket was opening, and found none to close
                await self._drop()
                self._check_open(closes, reopen)
            ws = self._ws
            try:
                await ws.send(frame)
                raw = await asyncio.wait_for(ws.recv(), timeout=self._opt.message_timeout_s)
            except asyncio.TimeoutError as e:
                await self._drop()
                raise EnvConnectionError(f"no reply from {self._opt.ws_url} within {self._opt.message_timeout_s} s; "
                                         "the connection was dropped (reset() to start again)") from e
            except Exception as e:  # noqa: BLE001 - websockets.ConnectionClosed and socket errors
                pending = await _pending_frame_async(ws)
                await self._drop()
                if pending is not None:
                    _result(pending, expected)
                how = "closed by close() during the call" if self._closes != closes else f"closed: {e}"
                raise EnvConnectionError(f"connection to {self._opt.ws_url} {how} (reset() to start again)") from e
            except BaseException:
                # Cancelled between send and reply (the caller's own wait_for, a task group): the reply
                # is still coming, and the next call would take it for its own. Drop the socket.
                self._drop_now()
                raise
            try:
                return _result(raw, expected)
            except (CapacityReachedError, SessionEndedError):
                await self._drop()
                raise

    def _drop_now(self) -> None:
        """``_drop`` without awaiting (inside a cancellation): abort the transport, forget the socket."""
        # The exit stack is forgotten, not closed: its aclose awaits, and the aborted transport needs nothing more.
        ws, self._ws, self._stack = self._ws, None, None
        transport = getattr(ws, "transport", None)
        if transport is not None:
            transport.abort()

    async def __aenter__(self) -> "AsyncDrugTargetEnv":
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


async def _pending_frame_async(ws: Any) -> Optional[str]:
    import asyncio

    try:
        return await asyncio.wait_for(ws.recv(), timeout=0.05)
    except Exception:  # noqa: BLE001
        return None


__all__ = [
    "AsyncDrugTargetEnv",
    "CapacityReachedError",
    "DrugTargetEnv",
    "EnvConnectionError",
    "EnvServerError",
    "InvalidRequestError",
    "SessionEndedError",
    "StepResult",
    "WrongEventLoopError",
    "server_ws_url",
]
