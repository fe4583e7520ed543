"""Run the environment server: ``drugenv serve-env`` / ``python -m drugenv.server``.

How to run::

    python -m drugenv.server --host 127.0.0.1 --port 8000 --max-sessions 256
    drugenv serve-env --workers 2             # one process per core: each WebSocket lives in one worker
    drugenv serve-env --asgi-server granian   # I/O in Rust threads beside the Python one (one process, more cores)
    DRUGENV_SEAL=... drugenv serve-env        # sealed evaluation: seeds no longer reveal scenarios

Results to expect: ``GET http://127.0.0.1:8000/health`` answers ``{"status": "healthy", ...}`` and
``drugenv.DrugTargetEnv(base_url="http://127.0.0.1:8000")`` plays episodes over ``/ws``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import socket
import sys
import threading
import time
import typing
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Literal, Optional, Sequence

from drugenv.errors import ConfigError, DependencyNotInstalled
from drugenv.simulator.environment import SEAL_ENV_VAR
from drugenv.simulator.environment import configured_seal as environment_seal
from drugenv.server.app import (
    BODY_TIMEOUT_S,
    DEFAULT_ENV_THREADS,
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_SESSIONS,
    SEND_TIMEOUT_S,
    check_limits,
    create_app,
)
from drugenv.server.hosts import ANY_HOST, allowed_hosts_for

logger = logging.getLogger("drugenv.server")

AsgiServer = Literal["uvicorn", "granian"]
"""What ``--asgi-server`` may name (``Args.asgi_server``)."""
ASGI_SERVERS: tuple[str, ...] = typing.get_args(AsgiServer)


@dataclass
class Args:
    """Serve DrugEnv environments over HTTP and WebSocket (OpenEnv 0.10's protocol).

    One environment per /ws session."""

    host: str = "127.0.0.1"
    """Interface to bind. Keep 127.0.0.1 unless the server must be reachable from other machines."""
    port: int = 8000
    """TCP port (0: any free port)."""
    max_sessions: int = DEFAULT_MAX_SESSIONS
    """Most concurrent /ws sessions; at least the number of rollouts in flight against this server."""
    idle_timeout_s: Optional[float] = DEFAULT_IDLE_TIMEOUT_S
    """Close a session after this many seconds without a frame (None: never)."""
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    """Cap on one WebSocket frame and on an HTTP request body, bytes."""
    strict_actions: bool = True
    """True: schema-invalid actions get a VALIDATION_ERROR frame (OpenEnv). False: they get the environment's penalised observation."""
    env_threads: int = DEFAULT_ENV_THREADS
    """Worker threads that parse frames and step environments (0: inline on the event loop)."""
    send_timeout_s: float = SEND_TIMEOUT_S
    """A /ws session whose reply cannot be sent for this many seconds (a client that stopped reading) is ended,
    and under uvicorn the kernel resets its connection after as long (TCP_USER_TIMEOUT, Linux)."""
    body_timeout_s: Optional[float] = BODY_TIMEOUT_S
    """An HTTP request body not whole this many seconds after the request arrived gets 408 and its connection is
    closed (None: no deadline); a client that declares a body and stalls holds nothing beyond it."""
    allowed_hosts: Optional[tuple[str, ...]] = None
    """Host names an HTTP request or /ws handshake may give in its Host header; any other gets 421 (guards against
    DNS rebinding: a web page whose own name points at this machine). None: 127.0.0.1, localhost and ::1 when
    --host is loopback, any name otherwise. '*': any name (behind a reverse proxy that forwards its public name)."""
    ws_ping_interval_s: float = 20.0
    """Keepalive ping interval, seconds; a peer silent for interval + timeout is dropped and its slot freed."""
    ws_ping_timeout_s: float = 20.0
    """Keepalive pong timeout, seconds."""
    ws_compression: bool = False
    """Offer permessage-deflate. Off by default: compressing each observation (5-30 KB of JSON) cost
    the server more CPU than stepping the environment, on loopback and cluster links where bandwidth is
    free. Turn it on for clients on slow links (frames shrink ~5x)."""
    log_level: str = "warning"
    """uvicorn log level (critical, error, warning, info, debug)."""
    workers: int = 1
    """Server processes. One Python process is GIL-bound; N workers share the port (uvicorn's process
    manager) and each WebSocket session lives in the worker that accepted it. `max_sessions` applies
    per worker: the kernel does not balance connections, so a split cap would refuse sessions while
    another worker had room. HTTP /reset, /step, /state are stateless, so any worker can answer them."""
    asgi_server: AsgiServer = "uvicorn"
    """The HTTP and WebSocket server under the app. `uvicorn` (Python: uvloop, httptools, websockets):
    keepalive pings, permessage-deflate on request, frames above 4x `max_message_bytes` (at least 1 MiB) cut at the
    protocol level. `granian` (Rust: hyper, tokio-tungstenite; the `server` extra installs it): its
    I/O runs in a thread beside the Python one, so one process can use a second core where one is
    free. On the 2-core benchmark box, which the load generator shares, one granian process served
    ~1.3x what one uvicorn process did at 32 sessions (5,920 against 4,508 steps/s in the records of
    2026-12-04) and as much at 128 (`docs/performance.md`); with `workers` = cores, prefer uvicorn.
    granian sends no keepalive pings (a half-open peer keeps its slot until `idle_timeout_s`), does
    not compress, holds ~3x the memory per open session, and closes the connection on a frame above
    16 MiB; the app's own `max_message_bytes` cap answers as under uvicorn."""
    seal: Optional[str] = None
    """Secret that salts scenario generation and noise (sealed evaluation: a public seed no longer maps to its truth,
    metadata carries no seed; the same seed and secret replay exactly). Default: the DRUGENV_SEAL environment
    variable, else unsealed. Prefer the variable: a command-line secret is visible in the process list."""


def build_server(app: Any, args: Args) -> Any:
    """A ``uvicorn.Server`` for ``app`` with ``args``' limits (frames above 4x the app cap, or 1 MiB if larger, are
    cut at the protocol level); the connections it accepts are reset by the kernel once data it sent has waited
    ``args.send_timeout_s`` unacknowledged (``drop_stalled_connections``)."""
    try:
        import uvicorn
    except ImportError as e:  # pragma: no cover - the server extra is missing
        raise DependencyNotInstalled("uvicorn", "server") from e
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level=args.log_level,
        ws_max_size=max(4 * args.max_message_bytes, 1 << 20),
        ws_ping_interval=args.ws_ping_interval_s, ws_ping_timeout=args.ws_ping_timeout_s,
        ws_per_message_deflate=args.ws_compression, timeout_graceful_shutdown=5,
    )

    class _Server(uvicorn.Server):
        """uvicorn's server, which sets TCP_USER_TIMEOUT on the sockets it listens on, and says which port
        ``--port 0`` got once it listens (uvicorn says it only at ``--log-level info``)."""

        async def startup(self, sockets: Optional[list[socket.socket]] = None) -> None:
            if sockets is not None:
                for sock in sockets:
                    drop_stalled_connections(sock, args.send_timeout_s)
            await super().startup(sockets)
            if sockets is None:  # uvicorn bound them itself: set as it starts listening (a connection that
                # was already waiting then, accepted in the same turn of the loop, may miss it)
                for server in self.servers:
                    for sock in server.sockets:
                        drop_stalled_connections(sock, args.send_timeout_s)
            if args.port == 0 and self.servers and not self.should_exit:
                _announce_port(args.host, self.servers[0].sockets[0].getsockname()[1])

    return _Server(config)


def drop_stalled_connections(sock: Any, send_timeout_s: float) -> None:
    """Set ``TCP_USER_TIMEOUT`` to ``send_timeout_s`` on a listening socket (the connections it accepts inherit it;
    Linux only, elsewhere nothing): the kernel then resets a connection whose sent data has waited that long
    unacknowledged, a peer that stopped reading among them.

    The app ends such a session after ``send_timeout_s`` (``create_app``'s), but under uvicorn that freed only its
    slot: the connection stayed open, with MBs queued in its buffers, and each one kept a file descriptor and
    kernel memory that ``--max-sessions`` no longer bounded. granian closes it itself.
    """
    if hasattr(socket, "TCP_USER_TIMEOUT") and getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, max(1, math.ceil(send_timeout_s * 1000)))


def configured_seal(args: Args) -> Optional[str]:
    """The server's secret: ``--seal``, else ``DRUGENV_SEAL``, else None (unsealed); an empty one is refused
    (``simulator.environment.configured_seal``)."""
    return environment_seal(args.seal)


def make_app(args: Args) -> Any:
    from drugenv.simulator.environment import DrugTargetEnvironment

    seal = configured_seal(args)
    factory = functools.partial(DrugTargetEnvironment, seal=seal) if seal else DrugTargetEnvironment
    return create_app(env_factory=factory, max_sessions=args.max_sessions, idle_timeout_s=args.idle_timeout_s,
                      max_message_bytes=args.max_message_bytes, strict_actions=args.strict_actions,
                      env_threads=args.env_threads, send_timeout_s=args.send_timeout_s, body_timeout_s=args.body_timeout_s,
                      allowed_hosts=allowed_hosts_for(args.host, args.allowed_hosts))


WORKER_ARGS_ENV_VAR = "DRUGENV_SERVER_ARGS"
"""How ``--workers`` passes the settings to each worker process, and the Serve env app to each replica (JSON of
``Args``; read by ``settings_from_environment``)."""


def settings_from_environment() -> Args:
    """The settings of a server process that imports the app by name (a ``--workers`` worker, a Ray Serve
    replica, ``uvicorn drugenv.server.asgi:app``): ``DRUGENV_SERVER_ARGS`` if set, else OpenEnv's conventional
    variables ``MAX_CONCURRENT_ENVS`` (sessions, default 256) and ``SESSION_IDLE_TIMEOUT_S`` (seconds, default
    3600; ``none`` disables it), and any ``Host`` is answered (the process manager bound the port: which interface
    is not known here, and a container's server is reached under names it cannot know). The seal always comes
    from ``DRUGENV_SEAL`` (``make_app``).

    Raises:
        ConfigError: a variable that is no number, or out of range (named as the variable).
    """
    import json

    if WORKER_ARGS_ENV_VAR in os.environ:
        return Args(**json.loads(os.environ[WORKER_ARGS_ENV_VAR]))
    sessions = os.environ.get("MAX_CONCURRENT_ENVS", str(DEFAULT_MAX_SESSIONS))
    idle = os.environ.get("SESSION_IDLE_TIMEOUT_S", str(DEFAULT_IDLE_TIMEOUT_S))
    try:
        max_sessions = int(sessions)
    except ValueError:
        raise ConfigError(f"MAX_CONCURRENT_ENVS must be a whole number >= 1, got {sessions!r}") from None
    try:
        idle_timeout_s = None if idle.lower() == "none" else float(idle)
    except ValueError:
        raise ConfigError(f"SESSION_IDLE_TIMEOUT_S must be a number of seconds > 0, or none, got {idle!r}") from None
    args = Args(max_sessions=max_sessions, idle_timeout_s=idle_timeout_s, allowed_hosts=(ANY_HOST,))
    variables = {"max_sessions": "MAX_CONCURRENT_ENVS", "idle_timeout_s": "SESSION_IDLE_TIMEOUT_S"}
    check_limits(max_sessions=args.max_sessions, idle_timeout_s=args.idle_timeout_s, max_message_bytes=args.max_message_bytes,
                 env_threads=args.env_threads, spell=lambda name: variables.get(name, name))
    return args


LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
"""uvicorn's log levels (``--log-level``; granian has the same names)."""


def check_args(args: Args) -> None:
    """Refuse settings the server cannot run with, before anything binds. The app's own limits are checked
    here too, under their flags' names (``create_app`` runs the same ``check_limits`` for API callers): a
    worker process that failed on one was restarted by uvicorn for ever under ``--workers 2``."""
    check_limits(max_sessions=args.max_sessions, idle_timeout_s=args.idle_timeout_s,
                 max_message_bytes=args.max_message_bytes, env_threads=args.env_threads,
                 spell=lambda name: "--" + name.replace("_", "-"))
    check_port_range(args.port, any_free=True)
    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    if not 0 < args.send_timeout_s < math.inf:
        raise ConfigError(f"--send-timeout-s must be a finite number of seconds > 0, got {args.send_timeout_s}")
    if args.body_timeout_s is not None and not 0 < args.body_timeout_s < math.inf:
        raise ConfigError(f"--body-timeout-s must be a finite number of seconds > 0, or None for no deadline, "
                          f"got {args.body_timeout_s}")
    if args.allowed_hosts is not None and not args.allowed_hosts:
        raise ConfigError(f"--allowed-hosts needs at least one name ('{ANY_HOST}': any name)")
    if args.log_level.lower() not in LOG_LEVELS:
        raise ConfigError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, got {args.log_level!r}")
    for name in ("ws_ping_interval_s", "ws_ping_timeout_s"):
        if not getattr(args, name) > 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be > 0 seconds, got {getattr(args, name)}")
    if args.asgi_server not in ASGI_SERVERS:
        raise ConfigError(f"--asgi-server must be one of {', '.join(ASGI_SERVERS)}, got {args.asgi_server!r}")
    if args.asgi_server == "granian":
        if args.ws_compression:
            raise ConfigError("--ws-compression needs --asgi-server uvicorn: granian's WebSockets do not compress")
        try:
            import granian  # noqa: F401
        except ImportError as e:
            raise DependencyNotInstalled("granian", "server") from e
    configured_seal(args)


def serve_env_main(args: Args) -> None:
    """Serve ``DrugTargetEnvironment`` until interrupted (the ``drugenv serve-env`` command)."""
    check_args(args)
    # Every path binds plainly first, before the config is logged: one uvicorn process reported a taken port or an
    # unknown host as its own "ERROR: [Errno ...]" line (exit 3), and granian binds with SO_REUSEPORT, so on a
    # port another server of this user holds it would join that one and the two would split the sessions.
    # Port 0 still checks the host.
    check_port_free(args.host, args.port)
    logging.basicConfig(level=args.log_level.upper())
    # Every setting but never the secret itself, as information (a WARNING line read as trouble where there was none);
    # shown at --log-level info.
    logger.info("drugenv server config: %s", {**dataclasses.asdict(args), "seal": "<set>" if configured_seal(args) else None})
    if args.asgi_server == "granian":
        if args.port == 0:  # granian binds inside its own process: pick the free port here, to say which it is
            args = dataclasses.replace(args, port=free_port(args.host))
            _announce_port(args.host, args.port)
        _serve_granian(args)
        return
    if args.workers == 1:
        try:
            build_server(make_app(args), args).run()
        except KeyboardInterrupt:  # Ctrl+C: uvicorn has shut down cleanly and re-raised the signal
            pass
        return
    import uvicorn

    _pass_settings_to_workers(args)
    config = uvicorn.Config("drugenv.server.asgi:app", host=args.host, port=args.port, workers=args.workers,
                            log_level=args.log_level, ws_max_size=max(4 * args.max_message_bytes, 1 << 20),
                            ws_ping_interval=args.ws_ping_interval_s, ws_ping_timeout=args.ws_ping_timeout_s,
                            ws_per_message_deflate=args.ws_compression, timeout_graceful_shutdown=5)
    if KERNEL_SPREADS_CONNECTIONS:
        sockets: list[Any] = [ReusePortListener.reserve(config, args.send_timeout_s)]
    else:
        sockets = [config.bind_socket()]
        drop_stalled_connections(sockets[0], args.send_timeout_s)
    if args.port == 0:
        bound = sockets[0]
        _announce_port(args.host, bound.address[1] if isinstance(bound, ReusePortListener) else bound.getsockname()[1])
    try:
        _multiprocess(config, sockets).run()
    except KeyboardInterrupt:  # pragma: no cover - Ctrl+C in a terminal; the manager has stopped its workers
        pass


def _announce_port(host: str, port: int) -> None:
    """Say which port ``--port 0`` got, at the default log level (uvicorn and granian say it only at ``info``)."""
    shown = f"[{host}]" if ":" in host else host
    logger.warning("drugenv serve-env: --port 0 is port %d: http://%s:%d (WebSocket sessions at /ws)", port, shown, port)


def _pass_settings_to_workers(args: Args) -> None:
    """Worker processes import the app by name (``drugenv.server.asgi``), so the settings travel in the
    environment (the seal too, through its own variable, so it never sits in a JSON blob a log might print)."""
    import json

    per_worker = dataclasses.replace(args, seal=None, workers=1)
    os.environ[WORKER_ARGS_ENV_VAR] = json.dumps(dataclasses.asdict(per_worker))
    if args.seal:
        os.environ[SEAL_ENV_VAR] = args.seal


_GRANIAN_LOG_TO_STDERR = {"handlers": {
    "console": {"formatter": "generic", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
    "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
}}
"""granian's handlers (its ``LOGGING_CONFIG`` replaces this key whole) writing to stderr, where uvicorn and
the rest of the server log: granian's own default is stdout."""


def _serve_granian(args: Args) -> None:
    """Serve under granian: its main process binds the port and starts ``args.workers`` worker processes,
    each importing the app by name. At ``--log-level info`` it logs ``Listening at: http://HOST:PORT`` once
    bound and ``Started worker-N`` per worker. ``serve_env_main`` has bound the port plainly first (granian's
    own bind sets SO_REUSEPORT)."""
    from granian import Granian
    from granian.constants import Interfaces

    _pass_settings_to_workers(args)
    server = Granian("drugenv.server.asgi:app", address=args.host, port=args.port, interface=Interfaces.ASGI,
                     workers=args.workers, websockets=True, log_level=args.log_level, log_dictconfig=_GRANIAN_LOG_TO_STDERR)
    try:
        server.serve()
    except KeyboardInterrupt:  # pragma: no cover - Ctrl+C in a terminal; granian has stopped its workers
        pass


KERNEL_SPREADS_CONNECTIONS = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
"""Whether ``--workers`` gives each worker a listening socket of its own (Linux's ``SO_REUSEPORT``).

With one socket shared by every worker (uvicorn's way), the worker that wakes first accepts every
connection waiting, so a burst of sessions lands mostly in one process: 32 WebSockets opened at once
split 30/2 or 21/11 between two workers. A session stays in its worker for good, so the busy worker
sets the pace of every rollout batch while the other idles. With a socket per worker in one
``SO_REUSEPORT`` group the kernel spreads connections by a hash of their addresses instead, whichever
worker is awake. Elsewhere the kernel does not spread them, and the workers share one socket."""


class ReusePortListener:
    """Stands in, in the process manager, for the socket each worker listens on.

    uvicorn's manager hands its list of sockets to every worker it starts (a restarted one too) by
    pickling it; this object unpickles in the worker as a new socket of its own, bound to the same
    address with ``SO_REUSEPORT``. The manager keeps a bound socket that never listens: it holds the
    port (and resolves port 0) while workers come and go, and takes no connections.
    """

    def __init__(self, family: int, address: tuple[Any, ...], backlog: int, send_timeout_s: float = SEND_TIMEOUT_S) -> None:
        self.family, self.address, self.backlog, self.send_timeout_s = family, address, backlog, send_timeout_s
        self.reservation: Optional[socket.socket] = None

    @classmethod
    def reserve(cls, config: Any, send_timeout_s: float = SEND_TIMEOUT_S) -> "ReusePortListener":
        family = _family(config.host)
        if config.port:
            # SO_REUSEPORT would let this server join another one already on the port (any process of the
            # same user that set it), and the two would split the sessions: bind plainly first, as uvicorn does.
            check_port_free(config.host, config.port)
        sock = _reuseport_socket(family, (config.host, config.port))
        listener = cls(family, sock.getsockname(), config.backlog, send_timeout_s)
        listener.reservation = sock
        # The line uvicorn logs once it is bound (tools wait for it, as benchmarks/bench_server.py does).
        host = f"[{config.host}]" if family == socket.AF_INET6 else config.host
        logging.getLogger("uvicorn.error").info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)", host,
                                                listener.address[1])
        return listener

    def __reduce__(self) -> tuple[Any, ...]:
        return _listening_socket, (self.family, self.address, self.backlog, self.send_timeout_s)


def check_port_range(port: int, *, any_free: bool = False) -> None:
    """``ConfigError`` unless ``port`` is a TCP port, 1-65535 (with ``any_free``, 0 too: the OS picks a free one)."""
    low = 0 if any_free else 1
    if not low <= port <= 65535:
        raise ConfigError(f"--port must be {low}-65535{' (0: any free port)' if any_free else ''}, got {port}")


def check_port(host: str, port: int, *, any_free: bool = False) -> None:
    """``check_port_range``, then ``check_port_free``: what every command that serves checks before it
    starts (uvicorn reported a taken port as its own "ERROR: [Errno 98]" line and exit code 3, and Serve's
    proxy with a long traceback after Ray had started)."""
    check_port_range(port, any_free=any_free)
    check_port_free(host, port)


def check_port_free(host: str, port: int) -> None:
    """Bind ``host:port`` plainly (no ``SO_REUSEPORT``) and let it go: a ``ConfigError`` if that fails."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _bind(probe, host, port)


def _family(host: str) -> int:
    """The address family a host names (an IPv6 literal holds a colon)."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _bind(sock: socket.socket, host: str, port: int) -> None:
    """``sock.bind``, or a ``ConfigError`` that says why: a host that is empty (it would bind every
    interface, the usual result of an unset variable), unknown, or no name at all (one the IDNA codec
    cannot encode raised ``TypeError``)."""
    if not host:
        raise ConfigError("--host is empty: name an interface (127.0.0.1 for this machine only, 0.0.0.0 for all)")
    try:
        sock.bind((host, port))
    except OSError as e:
        raise ConfigError(f"cannot bind {host}:{port}: {e.strerror or e}") from e
    except (TypeError, ValueError) as e:  # UnicodeError is a ValueError
        raise ConfigError(f"cannot bind {host!r}:{port}: the host is not a name or an address ({e})") from e


def _reuseport_socket(family: int, address: tuple[Any, ...]) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        _bind(sock, *address[:2])
    except ConfigError:
        sock.close()
        raise
    return sock


def _listening_socket(family: int, address: tuple[Any, ...], backlog: int,
                      send_timeout_s: float = SEND_TIMEOUT_S) -> socket.socket:
    """A worker's own listening socket in the port's ``SO_REUSEPORT`` group (run where it unpickles)."""
    sock = _reuseport_socket(family, address)
    drop_stalled_connections(sock, send_timeout_s)
    sock.listen(backlog)
    return sock


def _multiprocess(config: Any, sockets: list[Any]) -> Any:
    """uvicorn's process manager over ``sockets`` (in older uvicorns, 0.29 among them, its constructor also took the worker's target)."""
    import inspect

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if "target" in inspect.signature(Multiprocess).parameters:  # pragma: no cover - an older uvicorn
        return Multiprocess(config, target=uvicorn.Server(config).run, sockets=sockets)
    return Multiprocess(config, sockets=sockets)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the OS picks it). Another process may take it before it
    is used; callers that can, bind port 0 and keep the socket instead (``serve_in_thread`` does)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        _bind(sock, host, 0)
        return sock.getsockname()[1]


@contextmanager
def serve_in_thread(app: Any, args: Optional[Args] = None, *, start_timeout_s: float = 20.0) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 in a background thread; yields its base URL and stops it on exit.

    The port is bound before the thread starts (``args.port`` 0 picks a free one), so there is no
    race for it. Used by the tests and the benchmark.
    """
    args = dataclasses.replace(args or Args(port=0), host="127.0.0.1")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    server = build_server(app, dataclasses.replace(args, port=port))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"drugenv-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"server on 127.0.0.1:{port} did not start within {start_timeout_s} s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m drugenv.server``: ``drugenv serve-env``, with its handling of mistakes."""

    from drugenv.cli import parse_args, run_command

    return run_command("python -m drugenv.server", serve_env_main, parse_args(Args, args=argv), extra="server")


__all__ = ["ASGI_SERVERS", "Args", "AsgiServer", "KERNEL_SPREADS_CONNECTIONS", "ReusePortListener", "SEAL_ENV_VAR", "WORKER_ARGS_ENV_VAR", "build_server", "check_port", "check_port_free", "check_port_range", "configured_seal", "drop_stalled_connections", "free_port", "main", "make_app", "serve_env_main", "serve_in_thread"]
