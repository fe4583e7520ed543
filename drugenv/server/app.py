"""``create_app``: DrugTargetEnvironment behind the OpenEnv 0.10 wire protocol (FastAPI).

Routes (OpenEnv simulation mode; frame and payload shapes in ``drugenv.server.protocol``):

| route              | what                                                                            |
|--------------------|---------------------------------------------------------------------------------|
| WS   /ws           | one environment per connection: reset / step / state / close frames            |
| POST /reset        | stateless: a fresh environment is reset and discarded (OpenEnv semantics)       |
| POST /step         | stateless: the fresh environment was never reset, so a valid action gets 409    |
| GET  /state        | the state of a fresh environment                                                |
| GET  /schema       | JSON schemas of action, observation, state, reset_observation                   |
| GET  /metadata     | name, description, version                                                      |
| GET  /health       | ``{"status": "healthy", "active_sessions": n, "max_sessions": N}``              |
| POST /mcp          | JSON-RPC 2.0 error: this environment has no MCP tools                           |
| GET  /openapi.json | FastAPI's schema (``info.version`` is the drugenv version)                      |

Episodes only live on ``/ws``: HTTP ``/reset`` and ``/step`` are stateless, as in OpenEnv 0.10.

Sessions. At most ``max_sessions`` sockets hold an environment; the next one gets a
``CAPACITY_REACHED`` frame and is closed. A session ends, and its slot frees, when the client sends
``close``, disconnects (cleanly or not: uvicorn's keepalive pings detect half-open sockets), or
sends nothing for ``idle_timeout_s`` (an ``IDLE_TIMEOUT`` frame, then the socket closes: the slot
and the socket always go together), or stops reading: a reply that cannot be sent for ``SEND_TIMEOUT_S``
(a client that sends frames and never reads the replies fills the socket's buffers) frees the slot and
drops the socket without its closing handshake. A handshake whose ``Origin`` (a web page's address, which
browsers send) is not this server's own is refused (``same_origin``, HTTP 403). With ``allowed_hosts`` (what
``drugenv serve-env`` bound to loopback passes: the loopback names), an HTTP request or handshake whose ``Host``
names another host is refused too (421): a page whose own name a DNS server
points at 127.0.0.1 (DNS rebinding) is of the same origin as the server to the browser, so only its ``Host``
tells it apart (``drugenv.server.hosts``). Frames are parsed and environments stepped inline on the event loop by
default: a step is ~0.1 ms of pure Python, and handing it to a thread and back cost more CPU than
the overlap saved (``env_threads`` > 0 runs them in a thread pool instead, one call at a time per
session; see ``docs/performance_history.md``, "Sixth round").

Bad input never ends a session or the server: every malformed frame gets an error frame and the
session reads on; HTTP answers 4xx. A body that is not strict JSON (``NaN``, ``Infinity``, not
UTF-8; see ``protocol.loads_json``) or fails the request model gets 422 with
``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}``: the shape of FastAPI's 422, minus
its ``input`` and ``ctx``, which echo the client's value (FastAPI's own handler answered 500 when
that value could not be encoded back: ``NaN``, a lone surrogate). A body over ``max_message_bytes`` gets 413, and
one not whole ``body_timeout_s`` after the request arrived 408 with its connection closed (``BODY_TIMEOUT_S``: a
client that stalls mid-body holds no task, socket or Ray Serve request slot beyond it). Other HTTP errors are
``{"detail": "<what, and the fix>"}``.

Hidden truth cannot leave: the server only serializes ``ValidationObservation`` and
``DrugTargetState``, never ``outcome()`` or ``oracle_view()``, and the messages of unexpected environment errors stay
in the server log (the client gets the exception's type and a log reference, over WS and HTTP).

The protocol logic (session registry, frame handler) lives in ``drugenv.server.session``; this
module adds only I/O. The app is a plain FastAPI object, so Ray Serve can mount it
(``serve.ingress(create_app())``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib import metadata as importlib_metadata
from typing import Any, AsyncIterator, Callable, Mapping, Optional, Sequence
from urllib.parse import urlsplit

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from drugenv.errors import ConfigError, EnvNotResetError, UnknownScenarioError
from drugenv.models import DrugTargetAction, DrugTargetState, ValidationObservation
from drugenv.server.hosts import KnownHosts
from drugenv.server.protocol import (
    EnvironmentMetadata,
    ErrorCode,
    HealthResponse,
    ResetRequest,
    StepRequest,
    StepResponse,
    error_frame,
    error_items,
    loads_json,
    observation_data,
    validation_errors,
)
from drugenv.server.session import (
    EnvFactory,
    FrameHandler,
    SessionCapacityError,
    SessionRegistry,
    mcp_error,
    unknown_scenario_message,
)
from drugenv.simulator.environment import DrugTargetEnvironment

logger = logging.getLogger("drugenv.server")

DEFAULT_MAX_SESSIONS = 256
"""Default session cap: above TRL's usual generation batch (one socket per rollout)."""
DEFAULT_IDLE_TIMEOUT_S = 3600.0
"""Default idle timeout, seconds: longer than any optimizer step between two rollout phases."""
SEND_TIMEOUT_S = 30.0
"""A reply that cannot be sent for this long ends its session. A client reads each reply before it sends
its next frame, so its replies never fill the socket's buffers (hundreds of KB): a send that waits at all
is a peer that has stopped reading, which would otherwise hold its slot forever (the idle timeout and
the keepalive wait on reads and pings, not on a send)."""
DEFAULT_ENV_THREADS = 0
"""Default worker threads for frame handling, 0: inline on the event loop (see ``create_app``'s ``env_threads``).
Inline served more steps/s than 8 threads at 32 and 128 sessions, with a lower p99 (``docs/performance_history.md``, "Sixth round")."""
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024
"""Default frame / request-body cap, bytes (an action with its longest strings is under 4 KiB)."""
MIN_MESSAGE_BYTES = 1024
"""The smallest frame / request-body cap a server takes: a reset or step frame needs that much."""
BODY_TIMEOUT_S = 10.0
"""Seconds an HTTP request body may take to arrive in full, counted from the request's head; a body still short
then gets 408 and its connection is closed. Without it a client that declared a ``Content-Length`` and stalled
mid-body held its request open for as long as its socket lived: under uvicorn a task and a file descriptor each,
under Ray Serve one of the replica's ``max_ongoing_requests`` each (~20 such requests locked an environment replica's
``/health`` and new sessions out). A body of the sizes these APIs take (64-256 KiB at most) arrives in well under
a second on any link a client would use."""

_NOT_RESET_HTTP = ("HTTP /step is stateless (OpenEnv 0.10): each request gets a fresh environment that was never "
                   "reset. Play episodes over the WebSocket /ws (drugenv.DrugTargetEnv does).")


def _version() -> str:
    try:
        return importlib_metadata.version("drugenv")
    except importlib_metadata.PackageNotFoundError:  # pragma: no cover - source checkout without install
        return "0.0.0"


# ============================================================================================ HTTP body cap
if sys.version_info >= (3, 11):
    async def _within(aw: Any, timeout_s: float) -> Any:
        """``await aw``, or ``asyncio.TimeoutError`` after ``timeout_s``: ``asyncio.timeout`` cancels the current
        task, ~5 us a request where ``wait_for`` (a task of its own on 3.11) cost ~13."""
        async with asyncio.timeout(timeout_s):
            return await aw
else:  # pragma: no cover - Python 3.10: asyncio.timeout is 3.11+
    _within = asyncio.wait_for


class _BodyLimit:
    """ASGI middleware: HTTP request bodies over ``max_bytes`` get 413 before the app reads them, and a body not
    fully arrived ``timeout_s`` seconds after the request reached it (None: no deadline) gets 408 with
    ``Connection: close`` (its unread rest would otherwise be read as the next request's head), which ends the
    request and frees what it held. The body is read whole here and replayed to the app."""

    def __init__(self, app: Any, max_bytes: int, timeout_s: Optional[float] = BODY_TIMEOUT_S):
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        try:
            if self.timeout_s is None:
                complete = await self._read(receive, chunks)
            else:  # one deadline for the whole body
                complete = await _within(self._read(receive, chunks), self.timeout_s)
        except asyncio.TimeoutError:
            await self._too_slow(scope, receive, send, sum(map(len, chunks)), declared)
            return
        if complete is None:  # the client disconnected mid-body
            return
        if not complete:
            await self._too_large(scope, receive, send)
            return
        body, replayed = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Callable, chunks: list[bytes]) -> Optional[bool]:
        """Read the body into ``chunks``: True once whole, False past ``max_bytes``, None on a disconnect."""
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return False
            chunks.append(chunk)
            more = message.get("more_body", False)
        return True

    async def _too_large(self, scope: dict, receive: Callable, send: Callable) -> None:
        resp = JSONResponse({"detail": f"request body exceeds the server's {self.max_bytes}-byte cap"}, status_code=413)
        await resp(scope, receive, send)

    async def _too_slow(self, scope: dict, receive: Callable, send: Callable, received: int, declared: Optional[bytes]) -> None:
        of = f" of the {int(declared)} declared" if declared is not None and declared.isdigit() else ""
        resp = JSONResponse({"detail": f"request body did not arrive within the server's {self.timeout_s:g}-second limit "
                                       f"({received}{of} bytes received): send the whole body at once"},
                            status_code=408, headers={"Connection": "close"})
        await resp(scope, receive, send)


# ============================================================================================ strict JSON bodies
class _StrictJSONRequest(Request):
    """A request whose JSON body is decoded by ``loads_json`` (Starlette's ``json.loads`` takes NaN)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads_json(await self.body())
        return self._json


class _StrictJSONRoute(APIRoute):
    """Routes that hand FastAPI a ``_StrictJSONRequest``; its ``json.JSONDecodeError`` becomes a 422."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        handler = super().get_route_handler()

        async def strict_json_handler(request: Request) -> Response:
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return strict_json_handler


def _is_json_media_type(content_type: Optional[str]) -> bool:
    """What FastAPI reads a body as JSON for: ``application/json`` or ``application/<x>+json``, any parameters."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _request_errors(exc: RequestValidationError, content_type: Optional[str] = None) -> list[dict[str, Any]]:
    items = []
    for e in exc.errors():
        if tuple(e.get("loc", ())) == ("body",) and e.get("type") == "model_attributes_type" and not _is_json_media_type(content_type):
            # FastAPI reads a body as JSON only under a JSON content type; any other (curl -d sends a form's)
            # reached the model as text, and "should be a valid dictionary" did not say why.
            media = (content_type or "").split(";", 1)[0].strip()
            got = media if re.fullmatch(r"[\w.+-]{1,60}/[\w.+-]{1,60}", media) else "a Content-Type that is no media type" if content_type else "no Content-Type"
            e = {"loc": ("body",), "type": "model_attributes_type",
                 "msg": f"the body was not read as JSON: send it with Content-Type: application/json (got {got})"}
        if e.get("type") == "json_invalid":
            # FastAPI puts the decoder's message in ctx and the offset in loc; rebuild the decoder's
            # "what: line L column C" text from them (loads_json's messages never hold the input).
            body = exc.body if isinstance(exc.body, str) else ""
            pos = next((x for x in reversed(e.get("loc", ())) if isinstance(x, int)), 0)
            why = json.JSONDecodeError(str((e.get("ctx") or {}).get("error", "")), body, min(pos, len(body)))
            e = {"loc": ("body",), "msg": f"invalid JSON: {why}", "type": "json_invalid"}
        items.append(e)
    return error_items(items)


def harden_json_api(app: FastAPI, max_body_bytes: int, *, body_timeout_s: Optional[float] = BODY_TIMEOUT_S) -> FastAPI:
    """What every DrugEnv HTTP API does with bad bodies (this server, the dashboard, the Serve agent
    service): JSON decoded strictly (``loads_json``: no NaN / Infinity, UTF-8), bodies over
    ``max_body_bytes`` answered 413 before they are read, bodies not whole ``body_timeout_s`` seconds after
    the request arrived (``BODY_TIMEOUT_S``; None: no deadline) answered 408 and their connection closed, and
    request-model errors answered 422 with ``{loc, msg, type}`` items that never echo the client's value
    (FastAPI's own handler echoes it, and answered 500 where it could not be encoded back: NaN, a lone
    surrogate). Call it before the routes are declared: their class is set here.

    Raises:
        ConfigError: ``body_timeout_s`` is not None or a finite number of seconds > 0.
    """
    if body_timeout_s is not None and not (isinstance(body_timeout_s, (int, float)) and not isinstance(body_timeout_s, bool)
                                           and 0 < body_timeout_s < math.inf):
        raise ConfigError(f"body_timeout_s must be a finite number of seconds > 0, or None for no deadline, "
                          f"got {body_timeout_s!r:.40}")
    app.router.route_class = _StrictJSONRoute
    app.add_middleware(_BodyLimit, max_bytes=max_body_bytes, timeout_s=body_timeout_s)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _request_errors(exc, request.headers.get("content-type"))}, status_code=422)

    return app


def same_origin(headers: Mapping[str, str]) -> bool:
    """Whether a WebSocket handshake comes from no web page, or from a page of this very server. A browser names
    the page in ``Origin`` and lets any page open a socket anywhere (the same-origin policy does not cover
    WebSockets), so without this check any site a user visits could hold this server's sessions and play
    episodes; programs (the client, TRL, OpenEnv's) send no ``Origin`` or their own address. A page that DNS
    rebinding put under a name pointing here sends that name as both ``Origin`` and ``Host`` and passes: only
    ``create_app``'s ``allowed_hosts`` refuses it."""
    origin = headers.get("origin")
    if origin is None:
        return True
    netloc = urlsplit(origin).netloc.lower() if "://" in origin else None  # "null": a sandboxed or file:// page
    return netloc is not None and netloc == headers.get("host", "").lower()


def _execution_error(err: Exception, what: str) -> JSONResponse:
    # The message of an unexpected environment error may quote hidden values: log it, send the type.
    ref = uuid.uuid4().hex[:8]
    logger.error("environment error (ref %s) in HTTP %s", ref, what, exc_info=err)
    return JSONResponse({"detail": f"the environment raised {type(err).__name__} (server log ref {ref})"},
                        status_code=500)


# ============================================================================================ app
def check_limits(*, max_sessions: int, idle_timeout_s: Optional[float], max_message_bytes: int, env_threads: int,
                 spell: Callable[[str], str] = str) -> None:
    """Refuse ``create_app``'s limits out of range, each error naming the limit as ``spell`` writes it
    (``drugenv serve-env`` checks them under its flags' names before it binds, ``create_app`` for API callers).

    Raises:
        ConfigError: a limit is out of range.
    """
    if max_sessions < 1:
        raise ConfigError(f"{spell('max_sessions')} must be >= 1 (the number of concurrent /ws sessions), got {max_sessions}")
    if idle_timeout_s is not None and not idle_timeout_s > 0:  # NaN too: every session's timer failed on it
        raise ConfigError(f"{spell('idle_timeout_s')} must be > 0 seconds, or None to disable the idle timeout, got {idle_timeout_s}")
    if env_threads < 0:
        raise ConfigError(f"{spell('env_threads')} must be >= 0 (0: step environments on the event loop), got {env_threads}")
    if max_message_bytes < MIN_MESSAGE_BYTES:
        raise ConfigError(f"{spell('max_message_bytes')} must be >= {MIN_MESSAGE_BYTES} (a reset or step frame needs "
                          f"that much), got {max_message_bytes}")


def create_app(
    env_factory: EnvFactory = DrugTargetEnvironment,
    *,
    max_sessions: int = DEFAULT_MAX_SESSIONS,
    idle_timeout_s: Optional[float] = DEFAULT_IDLE_TIMEOUT_S,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    strict_actions: bool = True,
    env_threads: int = DEFAULT_ENV_THREADS,
    env_name: str = "drugenv",
    send_timeout_s: float = SEND_TIMEOUT_S,
    allowed_hosts: Optional[Sequence[str]] = None,
    body_timeout_s: Optional[float] = BODY_TIMEOUT_S,
) -> FastAPI:
    """Build the FastAPI app serving ``env_factory()`` environments, one per WebSocket.

    Args:
        env_factory: zero-argument callable returning a fresh ``DrugTargetEnvironment`` (the class
            itself, or e.g. ``lambda: DrugTargetEnvironment(reward_config=cfg)``). Called once per session.
        max_sessions: most concurrent ``/ws`` sessions; set it at least to the number of rollouts in
            flight (TRL: ``generation_batch_size`` summed over every trainer using this server).
        idle_timeout_s: close a session after this many seconds without a frame (``None``: never).
            Keep it above the longest pause between two steps of one episode (an optimizer step).
        max_message_bytes: cap on one WebSocket frame and on an HTTP request body, bytes.
        strict_actions: True (OpenEnv's behaviour): an action that fails ``DrugTargetAction``'s
            schema, or a step after the episode ended, gets an error frame and does not count as a
            step. False: such actions go to the environment, which answers with a penalised
            observation, exactly as in-process (what LLM rollouts with unparseable output need).
        env_threads: 0 (default) parses frames and steps the environments inline on the event
            loop; N > 0 hands each frame to a pool of N threads (calls of one session stay in
            order), which only pays when one step takes far longer than the hand-off (~0.1 ms).
        env_name: ``name`` served by ``/metadata``.
        send_timeout_s: end a session whose reply cannot be sent for this many seconds (``SEND_TIMEOUT_S``).
        allowed_hosts: the names a request's or handshake's ``Host`` may give (None: any); any other gets 421
            (``drugenv.server.hosts.KnownHosts``). ``drugenv serve-env`` bound to loopback passes
            ``LOOPBACK_NAMES``, so a web page whose own name a DNS server points at 127.0.0.1 (DNS rebinding)
            can neither call the HTTP routes nor open sessions: the browser sends that name as the host.
        body_timeout_s: seconds an HTTP request body may take to arrive whole (``BODY_TIMEOUT_S``; None: no
            deadline); a body still short then gets 408 and its connection is closed, so a client that stalls
            mid-body holds no task, socket or Serve request slot beyond it.

    Raises:
        ConfigError: a limit is out of range.
    """
    check_limits(max_sessions=max_sessions, idle_timeout_s=idle_timeout_s, max_message_bytes=max_message_bytes,
                 env_threads=env_threads)
    if not (isinstance(send_timeout_s, (int, float)) and not isinstance(send_timeout_s, bool) and 0 < send_timeout_s < math.inf):
        raise ConfigError(f"send_timeout_s must be a finite number of seconds > 0, got {send_timeout_s!r:.40}")

    registry = SessionRegistry(max_sessions)
    handle = FrameHandler(max_message_bytes=max_message_bytes, strict_actions=strict_actions)
    pool = ThreadPoolExecutor(max_workers=env_threads, thread_name_prefix="drugenv-env") if env_threads else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="DrugEnv environment server", version=_version(), lifespan=lifespan,
                  description="Drug-target validation POMDP over the OpenEnv 0.10 wire protocol.")
    harden_json_api(app, max_message_bytes, body_timeout_s=body_timeout_s)  # before the routes below are declared
    if allowed_hosts is not None:  # added last: the outermost layer, before the body cap reads a byte
        app.add_middleware(KnownHosts, allowed_hosts=allowed_hosts, server="the environment server")
    app.state.sessions = registry
    app.state.strict_actions = strict_actions

    schemas = {
        "action": DrugTargetAction.model_json_schema(),
        "observation": ValidationObservation.model_json_schema(),
        "state": DrugTargetState.model_json_schema(),
        "reset_observation": ValidationObservation.model_json_schema(),
    }
    env_doc = (DrugTargetEnvironment.__doc__ or "").strip().splitlines()
    env_metadata = EnvironmentMetadata(
        name=env_name, description=env_doc[0] if env_doc else "DrugEnv", version=_version(),
        author="DrugEnv contributors", documentation_url=None,
    )

    # ------------------------------------------------------------------------------ WebSocket
    @app.websocket("/ws")
    async def ws_session(websocket: WebSocket) -> None:
        if not same_origin(websocket.headers):
            await websocket.close(code=1008)  # before accept(): the handshake is refused (HTTP 403)
            return
        await websocket.accept()
        try:
            session = registry.open(env_factory)
        except SessionCapacityError:
            await _send_quietly(websocket, error_frame(
                ErrorCode.CAPACITY_REACHED, f"all {registry.max_sessions} sessions are in use; retry later",
                active_sessions=registry.active, max_sessions=registry.max_sessions))
            await _close_quietly(websocket, 1013)
            return
        except Exception as err:  # noqa: BLE001
            logger.exception("environment factory failed")
            await _send_quietly(websocket, error_frame(ErrorCode.FACTORY_ERROR,
                                                       f"could not create the environment ({type(err).__name__})"))
            await _close_quietly(websocket, 1011)
            return
        watch, stalled = None, False
        try:  # everything after open() inside: the finally frees the slot whatever fails
            watch = _SessionWatch(idle_timeout_s, send_timeout_s)
            while True:
                message = await watch.receive(websocket)
                if message is None:
                    await _send_quietly(websocket, error_frame(
                        ErrorCode.IDLE_TIMEOUT, f"no frame for {idle_timeout_s} s; the session is closed"))
                    break
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    try:
                        text = (message.get("bytes") or b"").decode("utf-8")
                    except UnicodeDecodeError:
                        await websocket.send_text(error_frame(ErrorCode.INVALID_JSON, "binary frame is not UTF-8"))
                        continue
                if pool is None:
                    reply, keep = handle(session, text)
                else:
                    reply, keep = await asyncio.get_running_loop().run_in_executor(pool, handle, session, text)
                if reply is not None and not await watch.send(websocket, reply):
                    stalled = True
                    break
                if not keep:
                    break
        except (WebSocketDisconnect, ConnectionError, RuntimeError):
            pass  # the client went away mid-send; the slot is freed below
        except Exception:  # noqa: BLE001
            logger.exception("session %s failed", session.id)
            await _send_quietly(websocket, error_frame(ErrorCode.SESSION_ERROR, "session failed on the server"))
        finally:
            if watch is not None:
                watch.stop()
            registry.close(session)
            if stalled:  # its closing frame would wait behind the replies it never read
                logger.warning("session %s: a reply waited %.0f s to be sent (the client stopped reading); dropped",
                               session.id, send_timeout_s)
            else:
                await _close_quietly(websocket, 1000)

    # ------------------------------------------------------------------------------ HTTP
    @app.post("/reset", response_model=StepResponse, tags=["Environment Control"],
              summary="Reset a fresh environment (stateless) and return its first observation")
    async def http_reset(request: Optional[ResetRequest] = Body(None)) -> Response:
        req = request or ResetRequest()
        env = env_factory()
        try:
            obs = env.reset(**req.model_dump())
        except UnknownScenarioError as err:
            return JSONResponse({"detail": unknown_scenario_message(req.scenario, err.valid)}, status_code=422)
        except Exception as err:  # noqa: BLE001
            return _execution_error(err, "/reset")
        finally:
            env.close()
        return Response(observation_data(obs, http=True), media_type="application/json")

    @app.post("/step", response_model=StepResponse, tags=["Environment Control"],
              summary="Stateless step: always 409 for a valid action (episodes live on /ws)",
              responses={409: {"description": "the fresh environment was never reset"},
                         422: {"description": "the action fails DrugTargetAction's schema"}})
    async def http_step(request: StepRequest) -> Response:
        if strict_actions:
            try:
                DrugTargetAction.model_validate(request.action)
            except ValidationError as err:
                detail = [{**e, "loc": ["body", "action", *e["loc"]]} for e in validation_errors(err)]
                return JSONResponse({"detail": detail}, status_code=422)
        env = env_factory()
        try:
            obs = env.step(request.action)
        except EnvNotResetError:
            return JSONResponse({"detail": _NOT_RESET_HTTP}, status_code=409)
        except Exception as err:  # noqa: BLE001
            return _execution_error(err, "/step")
        finally:
            env.close()
        return Response(observation_data(obs, http=True), media_type="application/json")  # pragma: no cover

    @app.get("/state", response_model=DrugTargetState, tags=["State Management"],
             summary="State of a fresh environment (stateless)")
    async def http_state() -> Response:
        env = env_factory()
        try:
            return Response(env.state.model_dump_json(), media_type="application/json")
        finally:
            env.close()

    @app.get("/schema", tags=["Schema"], summary="JSON schemas of action, observation, state and reset observation")
    async def http_schema() -> dict[str, Any]:
        return schemas

    @app.get("/metadata", response_model=EnvironmentMetadata, tags=["Environment Info"])
    async def http_metadata() -> EnvironmentMetadata:
        return env_metadata

    @app.get("/health", response_model=HealthResponse, tags=["Health"])
    async def http_health() -> HealthResponse:
        return HealthResponse(status="healthy", active_sessions=registry.active, max_sessions=registry.max_sessions)

    @app.post("/mcp", tags=["MCP"], summary="JSON-RPC 2.0; this environment has no MCP tools")
    async def http_mcp(request: Request) -> JSONResponse:
        try:
            payload = loads_json(await request.body())
        except ValueError:
            return JSONResponse({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}})
        return JSONResponse(mcp_error(payload.get("id") if isinstance(payload, dict) else None))

    return app


class _SessionWatch:
    """A session's timeouts, at the cost of one clock read per frame: a read that waits ``read_timeout_s``
    (the idle timeout; None: none) and a send that waits ``send_timeout_s`` (a peer that stopped reading).

    ``asyncio.wait_for`` around every read made a task, a timer and two callbacks per frame (the
    largest asyncio cost of a step). Here one timer per session stays armed: each read or send only
    stamps when it began, and when the timer fires it either cancels a wait that has lasted its limit
    (the same silence ``wait_for`` measured: from the start of the wait) or re-arms itself for the
    earliest moment the current or next wait could reach it.
    """

    def __init__(self, read_timeout_s: Optional[float], send_timeout_s: float):
        self._limits = {"read": math.inf if read_timeout_s is None else read_timeout_s, "send": send_timeout_s}
        self._period = min(self._limits.values())  # the soonest any wait that starts from now can expire
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._since = self._loop.time()
        self._waiting: Optional[str] = None  # "read" / "send" while one is in progress
        self._expired = False
        self._timer: Optional[asyncio.TimerHandle] = self._loop.call_at(self._since + self._period, self._check)

    def _check(self) -> None:
        now = self._loop.time()
        if self._waiting is None:  # busy with a frame: the next wait starts later than now
            self._timer = self._loop.call_at(now + self._period, self._check)
            return
        deadline = self._since + self._limits[self._waiting]
        if now < deadline:  # this wait may end and a shorter-lived one begin before its deadline
            self._timer = self._loop.call_at(min(deadline, now + self._period), self._check)
        else:
            self._timer, self._expired = None, True
            assert self._task is not None
            self._task.cancel()

    async def _wait(self, kind: str, awaitable: Any) -> tuple[bool, Any]:
        """(True, its result), or (False, None) once it has waited its limit."""
        self._since, self._waiting = self._loop.time(), kind
        try:
            return True, await awaitable
        except asyncio.CancelledError:
            if not self._expired:
                raise  # the server is shutting down: not ours
            if hasattr(self._task, "uncancel"):  # Python >= 3.11 counts cancellations
                self._task.uncancel()  # type: ignore[union-attr]
            return False, None
        finally:
            self._waiting = None

    async def receive(self, websocket: WebSocket) -> Optional[dict[str, Any]]:
        """The next ASGI message, or None once this read has waited the idle timeout."""
        return (await self._wait("read", websocket.receive()))[1]

    async def send(self, websocket: WebSocket, text: str) -> bool:
        """Send ``text``; False once the send has waited ``send_timeout_s``."""
        return (await self._wait("send", websocket.send_text(text)))[0]

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


async def _send_quietly(websocket: WebSocket, text: str) -> None:
    try:
        await websocket.send_text(text)
    except Exception:  # noqa: BLE001 - the peer may already be gone
        pass


async def _close_quietly(websocket: WebSocket, code: int) -> None:
    if websocket.application_state == WebSocketState.DISCONNECTED:
        return
    try:
        await websocket.close(code=code)
    except Exception:  # noqa: BLE001
        pass


__all__ = [
    "BODY_TIMEOUT_S",
    "DEFAULT_ENV_THREADS",
    "DEFAULT_IDLE_TIMEOUT_S",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_MAX_SESSIONS",
    "SEND_TIMEOUT_S",
    "create_app",
]
