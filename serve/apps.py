"""Ray Serve applications: the DrugEnv environment server, a trained agent, and the dashboard, over HTTP.

How to run (from the repository root; loopback; Serve's proxy binds where ``http_options`` says)::

    drugenv serve --checkpoint runs/grpo_tiny_cpu/checkpoint_final --port 8001    # the agent service
    serve run --address local serve/agent_service.yaml                            # same, from a Serve config file
    serve run --address local serve.apps:build_agent_service checkpoint=runs/grpo_tiny_cpu/checkpoint_final
    python -m serve.apps --app env   --port 8000                                  # OpenEnv protocol at /
    python -m serve.apps --app env   --port 8000 --replicas 2 --max-sessions 128  # sessions spread over 2 replicas
    python -m serve.apps --app env   --port 8000 --replicas 2 --ingress haproxy   # frames skip Serve's proxy (below)
    serve run --address local serve.apps:env_app                                  # Serve CLI, same app
    serve run --address local serve.apps:build_env_app replicas=2                 # Serve CLI, 2 replicas
    serve run --address local serve/env_service.yaml                              # same, from a Serve config file
    python -m serve.apps --app dashboard --port 8050                              # the live evidence dashboard

The environment app is the same FastAPI app as ``drugenv serve-env`` (``drugenv.server.app.create_app``),
mounted as a Serve ingress, so replicas scale with ``num_replicas``; each WebSocket session lives on
one replica for its whole life, and Serve's router sends a new one to the less busy of two replicas.
Serve counts an open WebSocket as an ongoing request, so the deployment admits ``max_sessions`` of them
per replica plus room for HTTP calls (Serve's own default, 5, would leave a sixth session's handshake
waiting at the proxy); a session beyond ``max_sessions`` gets the app's ``CAPACITY_REACHED`` frame.
By default every frame passes through Serve's proxy actor and on to the replica as a Ray call, which
costs ~3 ms of CPU a step: ``drugenv serve-env --workers N`` serves several times more. ``--ingress
haproxy`` runs Ray's high-throughput mode instead (``RAY_SERVE_ENABLE_HA_PROXY=1`` and
``RAY_SERVE_THROUGHPUT_OPTIMIZED=1``, the variables to set yourself for ``serve run``): HAProxy hands each
connection to the HTTP server of a replica, so a session's frames never cross a Ray call
(``docs/server.md``, "The environment as a Ray Serve app").

The agent service (``serve.agent_service``) composes an Agent deployment (``HFPolicy``, batched) and an
Environment deployment behind ``GET /health``, ``POST /act`` and ``POST /episodes``.
"""


import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ray import serve

from drugenv.errors import ConfigError
from drugenv.server.app import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_MAX_SESSIONS, check_limits
from drugenv.server.hosts import ANY_HOST, LOOPBACK_NAMES, allowed_hosts_for
from drugenv.server.serve import (SEAL_ENV_VAR, WORKER_ARGS_ENV_VAR, check_port, configured_seal, make_app,
                                  settings_from_environment)
from drugenv.server.serve import Args as ServerArgs
from serve.agent_service import AgentServiceArgs, build_agent_service

HTTP_HEADROOM = 16
"""Ongoing requests a replica admits beyond its ``max_sessions`` WebSockets: HTTP calls (``/health``,
``/schema``, the stateless ``/reset`` and ``/step``) still get through with every session slot taken, and a
session beyond the cap reaches the app, which answers ``CAPACITY_REACHED`` instead of leaving it waiting. An HTTP
request holds its place until the app answers it; one whose body stalls is answered 408 after
``drugenv.server.app.BODY_TIMEOUT_S`` (before, it held its place as long as its socket lived)."""


EXPECT_SEAL_ENV_VAR = "DRUGENV_EXPECT_SEAL"
"""``"1"`` or ``"0"``: whether ``build_env_app`` saw a seal where it ran. The seal itself reaches a replica only
through the environment of the process that started Ray, which may differ from the driver's (an existing Ray
started without it, a cluster node that missed it); the flag, not a secret, travels in the runtime_env, so a
replica whose seal disagrees refuses to start instead of serving a sealed benchmark unsealed (every
observation's metadata would carry its seed, from which the hidden world can be regenerated)."""


def check_replica_seal() -> None:
    """``ConfigError`` when this process's ``DRUGENV_SEAL`` disagrees with what ``build_env_app`` expected."""
    expect = os.environ.get(EXPECT_SEAL_ENV_VAR)
    sealed = bool(os.environ.get(SEAL_ENV_VAR))
    if expect == "1" and not sealed:
        raise ConfigError(f"the environment app was built sealed, but this replica's Ray process has no {SEAL_ENV_VAR}: "
                          f"start Ray (every node) with {SEAL_ENV_VAR} set in its environment; refusing to serve unsealed")
    if expect == "0" and sealed:
        raise ConfigError(f"the environment app was built unsealed, but this replica's Ray process has {SEAL_ENV_VAR} set: "
                          f"set it where the app is built too, or unset it where Ray was started")


def _build_env_asgi_app() -> Any:
    # Built inside each replica: the app owns a thread pool and session registry, which neither
    # pickle nor should be shared between replicas. Its settings come in DRUGENV_SERVER_ARGS
    # (build_env_app puts them in the replica's runtime_env), as for `drugenv serve-env --workers`; the
    # seal in DRUGENV_SEAL (sealed evaluation), which the replica inherits from the environment of the
    # process that started Ray (a secret kept out of the runtime_env, which Ray's dashboard shows).
    check_replica_seal()
    settings = settings_from_environment()
    if WORKER_ARGS_ENV_VAR not in os.environ:  # env_app, bound without settings: Serve's proxy on loopback, as by default
        settings = dataclasses.replace(settings, allowed_hosts=LOOPBACK_NAMES)
    return make_app(settings)


@serve.deployment(ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=DEFAULT_MAX_SESSIONS + HTTP_HEADROOM)
@serve.ingress(_build_env_asgi_app)
class EnvServer:
    """The OpenEnv-compatible environment server as a Serve deployment."""


env_app = EnvServer.bind()


class EnvAppArgs(BaseModel):
    """Arguments of `build_env_app` (`serve run serve.apps:build_env_app key=value` or a config file's `args`)."""

    model_config = ConfigDict(extra="forbid")

    replicas: int = Field(1, ge=1, description="Replicas of the environment deployment; each /ws session lives "
                                               "on one, and Serve's router spreads new ones over them.")
    max_sessions: int = Field(DEFAULT_MAX_SESSIONS, ge=1, description="Most concurrent /ws sessions per replica "
                                                                      "(drugenv serve-env --max-sessions).")
    allowed_hosts: Optional[list[str]] = Field(None, min_length=1, description=(
        "Host names a request or /ws handshake may give in its Host header; any other gets 421 (DNS rebinding). "
        "None: the loopback names, for Serve's HTTP proxy on 127.0.0.1 (the shipped configs'); ['*']: any name, "
        "for a proxy on another interface (python -m serve.apps passes it then)."))
    idle_timeout_s: Optional[float] = Field(DEFAULT_IDLE_TIMEOUT_S, description=(
        "Close a /ws session that sends no frame for this many seconds (drugenv serve-env --idle-timeout-s; None: "
        "never). Behind Serve's proxy it is also what frees the slot of a client that stopped reading: the "
        "replica hands each reply to the proxy at once, so the send timeout that drugenv serve-env ends such a "
        "session with never fires here (docs/server.md)."))


def build_env_app(args: dict[str, Any]) -> Any:
    """The environment app with ``replicas`` replicas of ``max_sessions`` sessions each."""
    a = EnvAppArgs.model_validate(args)
    check_limits(max_sessions=a.max_sessions, idle_timeout_s=a.idle_timeout_s, max_message_bytes=ServerArgs().max_message_bytes,
                 env_threads=ServerArgs().env_threads)  # refused here, not in every replica
    settings = dataclasses.replace(ServerArgs(), max_sessions=a.max_sessions, idle_timeout_s=a.idle_timeout_s,
                                   allowed_hosts=tuple(a.allowed_hosts) if a.allowed_hosts else LOOPBACK_NAMES)
    sealed = configured_seal(settings) is not None  # an empty DRUGENV_SEAL is refused here, before any replica starts
    env_vars = {WORKER_ARGS_ENV_VAR: json.dumps(dataclasses.asdict(settings)), EXPECT_SEAL_ENV_VAR: "1" if sealed else "0"}
    return EnvServer.options(
        num_replicas=a.replicas, max_ongoing_requests=a.max_sessions + HTTP_HEADROOM,
        ray_actor_options={**EnvServer.ray_actor_options, "runtime_env": {"env_vars": env_vars}},
    ).bind()


DASHBOARD_HOSTS_ENV_VAR = "DRUGENV_DASHBOARD_ALLOWED_HOSTS"
"""How ``build_dashboard_app`` passes its ``allowed_hosts`` to the replica (a JSON list; unset: the loopback names)."""


def _build_dashboard_asgi_app() -> Any:
    # Built inside the replica, like the env app. The runs folder is read from the replica's
    # environment: pass it with ``runtime_env={"env_vars": {"DRUGENV_DASHBOARD_RUNS": "/abs/runs"}}``,
    # and the host names it answers to in DRUGENV_DASHBOARD_ALLOWED_HOSTS.
    from drugenv.dashboard import create_app

    hosts = json.loads(os.environ.get(DASHBOARD_HOSTS_ENV_VAR, "null"))
    # Unset: Serve's proxy is taken to be on loopback (the default), so the loopback names, as drugenv dashboard's.
    return create_app(os.environ.get("DRUGENV_DASHBOARD_RUNS", "runs"), allowed_hosts=allowed_hosts_for("127.0.0.1", hosts))


@serve.deployment(ray_actor_options={"num_cpus": 0.25})
@serve.ingress(_build_dashboard_asgi_app)
class DashboardServer:
    """The live evidence dashboard (``drugenv dashboard``) as a Serve deployment, beside the env and agent apps."""


dashboard_app = DashboardServer.bind()


def build_dashboard_app(runs: str = "runs", allowed_hosts: Optional[list[str]] = None) -> Any:
    """The dashboard app over the runs folder ``runs`` (passed to the replica as an absolute path), answering to
    ``allowed_hosts`` (``EnvAppArgs.allowed_hosts``: None, the loopback names; ``['*']``, any name)."""
    env: dict[str, Any] = {"env_vars": {"DRUGENV_DASHBOARD_RUNS": os.path.abspath(runs)}}
    if allowed_hosts is not None:
        env["env_vars"][DASHBOARD_HOSTS_ENV_VAR] = json.dumps(list(allowed_hosts))
    return DashboardServer.options(ray_actor_options={**DashboardServer.ray_actor_options, "runtime_env": env}).bind()


def build_agent_app(args: dict[str, Any]) -> Any:
    """``serve run serve.apps:build_agent_app checkpoint=PATH`` (or ``model=... [adapter=...]``): the agent service."""
    return build_agent_service(args)


Ingress = Literal["proxy", "haproxy"]


@dataclass
class Args:
    app: Literal["env", "agent", "dashboard"] = "env"
    """env | agent | dashboard."""
    replicas: int = 1
    """--app env: replicas of the environment deployment (each /ws session lives on one)."""
    max_sessions: int = DEFAULT_MAX_SESSIONS
    """--app env: most concurrent /ws sessions per replica."""
    idle_timeout_s: Optional[float] = DEFAULT_IDLE_TIMEOUT_S
    """--app env: close a /ws session that sends no frame for this many seconds (None: never); behind Serve's
    proxy also what frees the slot of a client that stopped reading its replies."""
    host: str = "127.0.0.1"
    """Interface Serve's HTTP proxy binds."""
    port: int = 8000
    """HTTP port."""
    checkpoint: Optional[str] = None
    """--app agent: a GRPO checkpoint directory or a peft adapter directory."""
    model: Optional[str] = None
    """--app agent: base model path or hub id (default: the adapter's base model)."""
    adapter: Optional[str] = None
    """--app agent: peft LoRA adapter path (instead of --checkpoint)."""
    runs: str = "runs"
    """--app dashboard: the runs folder to show."""
    ingress: Ingress = "proxy"
    """What takes the HTTP and WebSocket connections. `proxy`: Serve's proxy actor, which sends every frame on
    to the replica as a Ray call. `haproxy`: Ray's high-throughput mode (`HAPROXY_ENV`): HAProxy on
    `--host`:`--port` hands each connection to a replica's own HTTP server. Ray binds HAProxy's stats and
    metrics ports (8404, 9101) on all interfaces in that mode, and each replica's inter-deployment gRPC port
    in either, whatever `--host` says: firewall them, or run it in a network namespace of its own."""


@dataclass
class ServeArgs:
    """Serve a trained agent over HTTP: GET /health, POST /act, POST /episodes."""

    checkpoint: Optional[str] = None
    """A GRPO run's checkpoint directory (e.g. runs/grpo_tiny_cpu/checkpoint_final) or a peft adapter directory."""
    model: Optional[str] = None
    """Base model path or hub id (default: base_model_name_or_path of the adapter's adapter_config.json)."""
    host: str = "127.0.0.1"
    """Interface Serve's HTTP proxy binds."""
    port: int = 8000
    """HTTP port."""
    max_batch_size: int = 16
    """Most observations the Agent deployment generates for at once (@serve.batch)."""
    strict_actions: bool = False
    """Refuse invalid actions with HTTP 422 instead of playing them as penalised steps."""
    num_cpus: int = 2
    """CPUs of the local Ray."""
    num_gpus: float = 0.0
    """GPUs the Agent replica reserves (1 on a GPU machine; the local Ray is given what it detects)."""


HAPROXY_ENV = {"RAY_SERVE_ENABLE_HA_PROXY": "1", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}
"""Ray Serve's documented high-throughput mode (Ray >= 2.55): HAProxy, bundled with ``ray[serve]``, is the
ingress and forwards each connection to a replica's own HTTP server ("direct ingress"). Serve reads these in
its controller and replicas, which inherit them from the process that starts Ray."""


def haproxy_stats_port() -> int:
    """The port of HAProxy's stats page: Ray's ``RAY_SERVE_HAPROXY_STATS_PORT``, 8404 by default."""
    return int(os.environ.get("RAY_SERVE_HAPROXY_STATS_PORT", "8404"))


REPLICA_SERVER, BACKUP_SERVER = "SERVE_REPLICA", "SERVE_PROXY_ACTOR"
"""How the names of HAProxy's servers begin (Ray's ``SERVE_REPLICA::<app>#…`` and ``SERVE_PROXY_ACTOR-<node>``):
a replica's own HTTP server, and the backup, Serve's proxy actor."""


def haproxy_servers() -> list[dict[str, str]]:
    """The rows of HAProxy's stats page (CSV, on ``RAY_SERVE_HAPROXY_STATS_PORT``) for the servers behind the apps'
    backends (``http-<app>``): each replica's server (``REPLICA_SERVER…``) and the backup (``BACKUP_SERVER…``);
    ``status`` and ``stot`` (sessions so far) among their columns."""
    import csv
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{haproxy_stats_port()}/stats;csv", timeout=2) as reply:
        rows = csv.DictReader(reply.read().decode().lstrip("# ").splitlines())
        return [r for r in rows if r["pxname"].startswith("http-") and r["svname"] not in ("FRONTEND", "BACKEND")]


def wait_for_haproxy_replicas(replicas: int, timeout_s: float = 120.0) -> None:
    """Block until HAProxy has marked ``replicas`` replica servers UP (``haproxy_servers``).

    Until its health checks pass, HAProxy sends new connections to its backup server, Serve's proxy actor, and
    a WebSocket opened then stays on that slow path for its whole life: "ready" means the direct path is up."""
    import time

    deadline, up = time.monotonic() + timeout_s, 0
    while time.monotonic() < deadline:
        try:  # distinct names: another backend may track the same servers
            up = len({r["svname"] for r in haproxy_servers()
                      if r["svname"].startswith(REPLICA_SERVER) and r["status"].startswith("UP")})
        except OSError:
            up = 0  # HAProxy not listening yet
        if up >= replicas:
            return
        time.sleep(0.2)
    raise TimeoutError(f"HAProxy marked {up} of {replicas} replicas UP in {timeout_s:.0f} s "
                       f"(its stats page on port {haproxy_stats_port()})")


def haproxy_sessions() -> dict[str, int]:
    """Sessions HAProxy has handed so far to the replicas' own servers and to its backup, Serve's proxy actor
    (which a session reaches only if it opened before HAProxy marked a replica UP): the direct path is all replicas."""
    rows = haproxy_servers()
    return {"replicas": sum(int(r["stot"] or 0) for r in rows if r["svname"].startswith(REPLICA_SERVER)),
            "backup": sum(int(r["stot"] or 0) for r in rows if r["svname"].startswith(BACKUP_SERVER))}


def _run_blocking(app: Any, name: str, host: str, port: int, num_cpus: Optional[int] = None,
                  ingress: Ingress = "proxy", replicas: int = 1) -> None:
    """Start a local loopback Ray and Serve, run ``app`` until SIGTERM / Ctrl-C, then stop both."""
    import signal

    import ray

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if ingress == "haproxy":
        os.environ.update(HAPROXY_ENV)  # before ray.init: the raylet, and so every Serve actor, inherits them

    def _stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    from drugenv import provenance

    provenance.export_to_workers()  # replicas check they import the driver's drugenv source
    # Replicas import this module by name, and serve/ sits in the repository root, not in the package: put the
    # root on their path (inherited through the raylet), or a command started elsewhere fails in every replica.
    root = str(Path(__file__).resolve().parents[1])
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *filter(None, paths)])
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, configure_logging=False)
    signal.signal(signal.SIGTERM, _stop)  # after ray.init, which installs its own handler
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(app, name=name, route_prefix="/")
        if ingress == "haproxy":
            wait_for_haproxy_replicas(replicas)
        print(f"drugenv: {name} ready at http://{host}:{port}/ (Ctrl-C or SIGTERM stops it)", flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
        ray.shutdown()


def serve_main(args: ServeArgs) -> int:
    """``drugenv serve``: check the arguments and the checkpoint (before Ray starts), then serve the agent service."""
    for name, value, low in (("--max-batch-size", args.max_batch_size, 1), ("--num-cpus", args.num_cpus, 1),
                             ("--num-gpus", args.num_gpus, 0)):
        if not value >= low or value == float("inf"):  # NaN and inf too: tracebacks from pydantic and Ray
            raise ConfigError(f"{name} {value} is out of range: it must be a finite number >= {low}")
    if args.num_gpus > 0:  # the local Ray would wait for GPUs it does not have, for ever, without a word
        try:
            import torch

            have = torch.cuda.device_count() if torch.cuda.is_available() else 0
        except ImportError:
            have = 0
        if args.num_gpus > have:
            raise ConfigError(f"--num-gpus {args.num_gpus}: this machine has {have} GPU(s) torch can see, and the local "
                              "Ray would wait for them for ever; use --num-gpus 0 to serve on CPU")
    if args.model:
        from drugenv.llm.architectures import is_uncached_hub_id
        from drugenv.llm.run_agent import missing_local_path

        if missing_local_path(args.model) or is_uncached_hub_id(args.model):
            raise ConfigError(f"--model {args.model!r} is not a model directory here, nor a hub id in the local Hugging "
                              "Face cache (offline mode downloads nothing); pass a model directory, a cached hub id or 'tiny'")
    check_port(args.host, args.port)
    app_args = AgentServiceArgs(checkpoint=args.checkpoint, model=args.model, max_batch_size=args.max_batch_size,
                                strict_actions=args.strict_actions, num_gpus=args.num_gpus, allowed_hosts=hosts_behind(args.host))
    app = build_agent_service(app_args.model_dump())
    _run_blocking(app, "agent", args.host, args.port, args.num_cpus)
    return 0


_APP_SETTINGS = {"env": ("replicas", "max_sessions"), "agent": ("checkpoint", "model", "adapter"), "dashboard": ("runs",)}
"""The ``Args`` fields each app reads, beside the ones every app reads (host, port, ingress)."""


def check_app_settings(args: Args) -> None:
    """``ConfigError`` for a setting another app reads (``--app env --checkpoint x`` started the environment
    app and dropped the checkpoint without a word)."""
    defaults = Args()
    for app, names in _APP_SETTINGS.items():
        for name in names:
            if app != args.app and getattr(args, name) != getattr(defaults, name):
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} is a setting of --app {app}; --app {args.app} does not read it")


def hosts_behind(bind_host: str) -> list[str]:
    """The ``allowed_hosts`` of an app behind Serve's proxy on ``bind_host``: the loopback names on loopback, so a
    web page whose name a DNS server points at 127.0.0.1 is refused (DNS rebinding), else any name (``ANY_HOST``)."""
    return list(allowed_hosts_for(bind_host) or [ANY_HOST])


def main(args: Args) -> None:
    check_app_settings(args)
    hosts = hosts_behind(args.host)
    if args.app == "dashboard":
        app = build_dashboard_app(args.runs, allowed_hosts=hosts)
    elif args.app == "agent":
        app = build_agent_service({"checkpoint": args.checkpoint, "model": args.model, "adapter": args.adapter,
                                   "allowed_hosts": hosts})
    else:
        try:
            app = build_env_app({"replicas": args.replicas, "max_sessions": args.max_sessions, "allowed_hosts": hosts,
                                 "idle_timeout_s": args.idle_timeout_s})
        except ValidationError as e:
            bad = "; ".join(f"--{'-'.join(map(str, err['loc'])).replace('_', '-')}: {err['msg']}" for err in e.errors())
            raise ConfigError(f"bad environment app settings: {bad}") from None
    check_port(args.host, args.port)  # after the settings: a bad setting is named whether or not the port is free
    _run_blocking(app, args.app, args.host, args.port, ingress=args.ingress,
                  replicas=args.replicas if args.app == "env" else 1)


if __name__ == "__main__":  # pragma: no cover
    import sys


    from drugenv.cli import parse_args, run_command

    sys.exit(run_command("python -m serve.apps", main, parse_args(Args, prog="python -m serve.apps"), extra="train"))
