"""Server load benchmark: N concurrent ``/ws`` clients play random episodes against DrugEnv's server
and against OpenEnv's reference server (``openenv.core`` ``create_app``) hosting the same
environment; prints steps/s and step latency side by side, and their ratio.

How to run this script::

    python benchmarks/bench_server.py --clients 64 --episodes 6

Each server runs in its own subprocess on 127.0.0.1 (a free port), so the load generator does not
share a GIL with it; both get the identical load (same seeds, same actions). The reference side
needs the ``openenv`` package (``pip install 'openenv==0.10.*'``); ``--servers drugenv`` skips it.

Results to expect: steps/s of both servers, p50/p99 latency of one step (send -> reply), and
``drugenv / reference`` ratios (> 1 for throughput means DrugEnv is faster). Numbers depend on
the machine and on what else runs on it; compare only runs made back to back.

The DrugEnv side can also be the Ray Serve environment app (``serve.apps``, behind Serve's proxy)::

    python benchmarks/bench_server.py --clients 32 --episodes 20 --serve-replicas 1    # then 2: its scaling

Memory per session (Linux: reads ``/proc``)::

    python benchmarks/bench_server.py --memory-sessions 256

opens that many ``/ws`` sessions on each server, resets each (a procedural episode) and plays
``--memory-steps`` steps without ending it, then reports the server's resident memory (all its
processes) before and after, per open session.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import random
import statistics
import subprocess
import sys
import time
import typing
from dataclasses import asdict, dataclass
from typing import Any, Callable, Literal, Optional

import orjson
import picows

from drugenv.server.app import DEFAULT_ENV_THREADS
from drugenv.server.serve import AsgiServer
from records import check_args


@dataclass
class Args:
    clients: int = 64
    """Concurrent WebSocket sessions (one environment each)."""
    episodes: int = 6
    """Measured episodes per client (after one warm-up episode)."""
    max_steps: int = 30
    """Step cap per episode on the client side (the environment also truncates at its max_steps)."""
    servers: Literal["both", "drugenv", "reference"] = "both"
    """Which servers to measure."""
    seed: int = 0
    """Base seed: client i plays seeds seed + 1000 * i + episode."""
    repeats: int = 3
    """Measure each server this many times, alternating them (the machine's load drifts); medians are reported."""
    json_out: Optional[str] = None
    """Also write the results as JSON to this path."""
    serve: Optional[Literal["drugenv", "reference"]] = None
    """Internal: run that server in this process on --port and block (used for the subprocesses)."""
    port: int = 0
    """Internal: port for --serve (0: a free one)."""
    env_threads: int = DEFAULT_ENV_THREADS
    """DrugEnv server: frames handled in a pool of this many threads (0: inline on the event loop; default: the server's)."""
    workers: int = 1
    """DrugEnv server: worker processes (``drugenv serve-env --workers``); compare 1 and 2 for scaling."""
    asgi_server: AsgiServer = "uvicorn"
    """DrugEnv server: ``drugenv serve-env --asgi-server`` (the reference always runs as OpenEnv runs it, under uvicorn)."""
    serve_replicas: int = 0
    """DrugEnv server: 0 runs ``drugenv serve-env``; N >= 1 runs the Ray Serve environment app instead
    (``python -m serve.apps --app env --replicas N``: a local Ray, Serve's proxy in front of N replicas;
    ``--workers`` and ``--asgi-server`` do not apply)."""
    serve_ingress: Literal["proxy", "haproxy"] = "proxy"
    """With --serve-replicas: the Serve app's ``--ingress`` (``haproxy``: Ray's high-throughput mode, whose HAProxy
    stats and metrics ports bind all interfaces; on a shared machine run the benchmark in a network namespace
    of its own, ``unshare --net``, as ``docs/performance.md`` does)."""
    memory_sessions: int = 0
    """If > 0: instead of the load test, measure resident memory with this many open sessions."""
    memory_steps: int = 5
    """Steps each session plays before memory is read (the episodes stay open)."""


CURATED = ("egfr_nsclc_viable", "kras_pdac_borderline", "cd33_aml_misleading", "tp53_solid_tumors_clear_fail",
           "ptpn11_juvenile_mml_complex")


# ------------------------------------------------------------------------------------ servers
def serve(kind: str, port: int, max_sessions: int, env_threads: int = DEFAULT_ENV_THREADS, workers: int = 1,
          asgi_server: str = "uvicorn") -> None:
    import uvicorn

    if kind == "drugenv":
        from drugenv.server.serve import Args as ServeArgs
        from drugenv.server.serve import serve_env_main

        serve_env_main(ServeArgs(host="127.0.0.1", port=port, max_sessions=max_sessions, log_level="info",
                                 env_threads=env_threads, workers=workers, asgi_server=asgi_server))
    else:
        from drugenv.server.openenv_reference import make_reference_app

        uvicorn.run(make_reference_app(max_sessions=max_sessions), host="127.0.0.1", port=port, log_level="info")


def _wait_healthy(url: str, deadline: float) -> None:
    import urllib.request

    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url}/health did not answer")


def start_server(kind: str, max_sessions: int, env_threads: int = DEFAULT_ENV_THREADS, workers: int = 1,
                 asgi_server: str = "uvicorn", serve_replicas: int = 0, serve_ingress: str = "proxy") -> tuple[subprocess.Popen, str]:
    """Start ``kind`` in a subprocess; returns (process, base URL) once the server reports its port and
    every worker has started (uvicorn's and granian's log lines), or the Serve app reports it is ready."""
    from drugenv.server.serve import free_port

    if kind == "drugenv" and serve_replicas:
        return _start_serve_app(max_sessions, serve_replicas, free_port(), serve_ingress)
    granian = kind == "drugenv" and asgi_server == "granian"
    # A process manager binds before forking: give it a concrete port.
    port = free_port() if workers > 1 or granian else 0
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port), "--clients", str(max_sessions),
                             "--env-threads", str(env_threads), "--workers", str(workers),
                             "--asgi-server", asgi_server if kind == "drugenv" else "uvicorn"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline, url, starting = time.monotonic() + 120, "", workers
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        if "Uvicorn running on" in line:
            url = line.split("running on ")[1].split()[0]
        if "Listening at: " in line:  # granian
            url = line.split("Listening at: ")[1].split()[0]
        if "Application startup complete" in line or "Started worker-" in line:
            starting -= 1  # wait for every worker: sessions opened while one still starts land in the others
        if url and not starting:
            _wait_healthy(url, deadline)
            return proc, url
    proc.kill()
    raise RuntimeError(f"{kind} server did not start")


SERVE_STOP_TIMEOUT_S = 90
"""A Serve app stops its replicas, Serve and the local Ray before it exits: give it that long before a kill
(which would leave Ray's processes behind)."""


def _start_serve_app(max_sessions: int, replicas: int, port: int, ingress: str = "proxy") -> tuple[subprocess.Popen, str]:
    """``python -m serve.apps --app env`` in a subprocess, from the repository root (``serve/`` is not in the package)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH")))),
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "serve.apps", "--app", "env", "--replicas", str(replicas),
                             "--max-sessions", str(max_sessions), "--port", str(port), "--ingress", ingress],
                            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 180
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        if "drugenv: env ready at" in line:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, deadline)
            return proc, url
    stop_server(proc, SERVE_STOP_TIMEOUT_S)
    raise RuntimeError("the Serve env app did not start")


# ------------------------------------------------------------------------------------ load
# The load generator shares the 2 cores with the server it measures, so it is kept lean: picows
# (a WebSocket client in Cython) calls each session back with its frames, and the session parses the
# observation with orjson and sends its next action from inside that callback, with no coroutine or
# future per frame; uvloop runs the loop, and the action's literal choices are looked up once. In
# alternating runs on the 2-core box that took the generator's CPU a step from 59-135 us (aiohttp's
# client, a coroutine per session) to 50-105, with the very same frames sent (equal load digests),
# CPU the servers get (docs/performance_history.md, "Twenty-sixth round"). Before aiohttp, websockets'
# client, asyncio and json took ~110-200.
# picows offers no permessage-deflate: OpenEnv's reference server runs with uvicorn's default, which
# accepts compression from any client that offers it, and DrugEnv's server refuses it by default,
# so a compressing client would have measured zlib on one side only.


@functools.cache
def _literal_params(kind: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """The action's ``Literal`` parameters and their choices, in declaration order."""
    from drugenv.actions import ACTION_TABLE

    return tuple((n, typing.get_args(f.annotation)) for n, f in ACTION_TABLE[kind].params.model_fields.items()
                 if typing.get_origin(f.annotation) is typing.Literal)


def random_action(rng: random.Random, obs: dict[str, Any]) -> dict[str, Any]:
    """A random legal action with random parameter choices; submits once in a while after step 3."""
    from drugenv.actions import ActionType

    if obs["step_count"] >= 3 and rng.random() < 0.15:
        return {"action_type": "submit_validation_report", "final_decision": rng.choice(["go", "no_go"]),
                "confidence": round(rng.random(), 3)}
    legal = [a for a in obs["legal_actions"] if a != "submit_validation_report"] or obs["legal_actions"]
    kind = ActionType(rng.choice(legal))
    params = {n: rng.choice(choices) for n, choices in _literal_params(kind)}
    if kind == ActionType.FLAG_RED_FLAG:
        params["description"] = "off-target liability"
    action: dict[str, Any] = {"action_type": kind.value, "parameters": params}
    if kind == ActionType.SUBMIT_VALIDATION_REPORT:
        action.update(final_decision="no_go", confidence=0.6)
    return action


class UnexpectedFrame(RuntimeError):
    """The server answered with something other than the observation the load expects (an error frame, an
    episode that ended too soon); the message says what it sent."""

    def __init__(self, message: dict[str, Any]):
        super().__init__(f"expected an observation, got {str(message)[:500]}")


class _Session(picows.WSListener):
    """One ``/ws`` connection: hands every whole text frame, parsed, to ``on_message``; ``done`` holds the
    session's result, or the first error (a frame the server should not have sent: ``UnexpectedFrame`` and the like)."""

    def __init__(self) -> None:
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()
        self._parts: list[bytes] = []  # a message the server sent in fragments (none of ours do)

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.transport = transport

    def send(self, payload: dict[str, Any]) -> None:
        self.transport.send(picows.WSMsgType.TEXT, orjson.dumps(payload))

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        try:
            if frame.msg_type is picows.WSMsgType.CLOSE:
                raise RuntimeError(f"the server closed the session: {frame.get_close_code()} {frame.get_close_message()!r}")
            if frame.msg_type not in (picows.WSMsgType.TEXT, picows.WSMsgType.CONTINUATION) or frame.rsv1:
                raise RuntimeError(f"expected an uncompressed text frame, got {frame.msg_type.name}")
            if not frame.fin or self._parts:
                self._parts.append(frame.get_payload_as_bytes())
                if not frame.fin:
                    return
                payload, self._parts = b"".join(self._parts), []
                self.on_message(orjson.loads(payload))
            else:
                self.on_message(orjson.loads(frame.get_payload_as_memoryview()))
        except BaseException as e:  # noqa: BLE001 - picows would log and drop it; the run must fail with it
            if not self.done.done():
                self.done.set_exception(e)
            transport.disconnect()

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        if not self.done.done():
            self.done.set_exception(RuntimeError("the server dropped the session"))

    def on_message(self, message: dict[str, Any]) -> None:
        raise NotImplementedError


def _hang_up(sessions: list) -> None:
    """Disconnect every session; one still playing is cancelled first (a failed run raised its first error)."""
    for session in sessions:
        session.done.cancel()
        session.transport.disconnect()


async def _connect(url: str, sessions: list[Callable[[], _Session]]) -> list[_Session]:
    """Open a ``/ws`` connection for each factory, 32 handshakes at a time; if one fails, hang up the others
    and raise its error."""
    ws_url, opened = url.replace("http://", "ws://", 1) + "/ws", []
    for start in range(0, len(sessions), 32):
        # A loaded server (Serve's proxy at 128 sessions) can take seconds to accept: picows's default is 5 s.
        batch = await asyncio.gather(*(picows.ws_connect(f, ws_url, websocket_handshake_timeout=60)
                                       for f in sessions[start:start + 32]), return_exceptions=True)
        opened += [b[1] for b in batch if not isinstance(b, BaseException)]
        failed = next((b for b in batch if isinstance(b, BaseException)), None)
        if failed is not None:
            _hang_up(opened)
            raise failed
    return opened


class _Warmup:
    """Every player's warm-up episode, then the measured window: a player that has finished its warm-up
    waits here, and once all have, the clock starts and they all go on (no warm-up step is inside it)."""

    def __init__(self, players: int):
        self.players, self.waiting = players, []
        self.over: asyncio.Future = asyncio.get_running_loop().create_future()

    def wait(self, player: "_Player") -> bool:
        """True if ``player`` must wait for the others (its next episode starts when they are warm)."""
        if self.over.done():
            return False
        self.waiting.append(player)
        if len(self.waiting) == self.players:
            self.over.set_result(None)
        return True


class _Player(_Session):
    """Client ``i``'s episodes, played from frame callbacks; ``done`` gets its measured steps and a
    SHA-256 of every frame it sent (the load)."""

    def __init__(self, i: int, args: Args, warmup: _Warmup, latencies: list[float]):
        super().__init__()
        self.i, self.args, self.warmup, self.latencies = i, args, warmup, latencies
        self.episode, self.steps, self.sent = 0, 0, hashlib.sha256()  # episode 0 warms up and is not measured
        self.t0: Optional[float] = None  # when the step now awaited was sent (None: a reset, or nothing, awaited)

    def start_episode(self) -> None:
        if self.episode > self.args.episodes:
            self.transport.send(picows.WSMsgType.TEXT, b'{"type":"close"}')
            self.done.set_result((self.steps, self.sent.hexdigest()))
            return
        if self.episode == 1 and self.warmup.wait(self):
            return
        seed = self.args.seed + 1000 * self.i + self.episode
        self.rng, self.taken = random.Random(seed), 0
        self._send({"type": "reset", "data": {"seed": seed, "scenario": CURATED[seed % len(CURATED)]}}, timed=False)

    def _send(self, payload: dict[str, Any], timed: bool) -> None:
        """Send ``payload``, hash it into the load, and start the step's clock if ``timed`` (a reset is not)."""
        data = orjson.dumps(payload)
        self.sent.update(data)
        self.t0 = time.perf_counter() if timed else None
        self.transport.send(picows.WSMsgType.TEXT, data)

    def on_message(self, message: dict[str, Any]) -> None:
        if self.t0 is not None and self.episode:
            self.latencies.append(time.perf_counter() - self.t0)  # send -> reply parsed
            self.steps += 1
        if message["type"] != "observation":
            raise UnexpectedFrame(message)
        if message["data"]["done"] or self.taken == self.args.max_steps:
            self.episode += 1
            self.start_episode()
            return
        self.taken += 1
        self._send({"type": "step", "data": random_action(self.rng, message["data"]["observation"])}, timed=True)


async def run_load(url: str, args: Args, server_pid: Optional[int] = None) -> dict[str, Any]:
    warmup, latencies = _Warmup(args.clients), []
    players = typing.cast(list[_Player], await _connect(url, [functools.partial(_Player, i, args, warmup, latencies)
                                                              for i in range(args.clients)]))
    try:
        spread = sessions_per_process(server_pid, int(url.rsplit(":", 1)[1])) if server_pid else None
        for player in players:
            player.start_episode()
        # Until 2026-12-04 the clock started here, with the warm-up episodes inside the window but
        # their steps not counted: 4% (32 sessions) to 13% (128) fewer steps/s than served.
        await _first_of(asyncio.shield(warmup.over), [p.done for p in players])
        t0, cpu0, started = time.perf_counter(), time.process_time(), time.time()
        for player in warmup.waiting:
            player.start_episode()
        done = await asyncio.gather(*(p.done for p in players))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        _hang_up(players)
    steps = sum(n for n, _ in done)
    latencies.sort()
    # The load generator shares the machine with the server: its CPU per step says how much of the
    # cores it took (on 2 cores, ~0.055 ms a step is more than half a core at 10,000 steps/s).
    return {"steps": steps, "wall_s": round(wall, 3), "steps_per_s": round(steps / wall, 1),
            "p50_ms": round(1000 * statistics.median(latencies), 2),
            "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2),
            "client_cpu_us_per_step": round(1e6 * cpu / steps, 1),
            # Each session lives in the worker that accepted it, and a run ends with its slowest session.
            **({"sessions_per_process": spread} if spread else {}),
            # When the measured window ran (Unix time): benchmarks/gc_pauses.py finds the pauses inside it.
            "window_unix_s": [round(started, 4), round(started + wall, 4)],
            # Equal digests: both servers answered so that the clients sent them the very same frames.
            "load_sha256": hashlib.sha256("".join(d for _, d in done).encode()).hexdigest()}


async def _first_of(waiting: Any, futures: list) -> None:
    """Await ``waiting``, unless a session fails first (its error is raised, not a wait for ever)."""
    waiter = asyncio.ensure_future(waiting)
    done, _ = await asyncio.wait([waiter, *futures], return_when=asyncio.FIRST_COMPLETED)
    for f in done:
        if f is not waiter and f.exception() is not None:
            waiter.cancel()
            raise f.exception()
    if not waiter.done():
        await waiter


def _run(coroutine: Any) -> Any:
    """``asyncio.run`` on uvloop where it is installed (it is with uvicorn's standard extras)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def measure(kind: str, args: Args) -> dict[str, float]:
    serve_replicas = args.serve_replicas if kind == "drugenv" else 0
    proc, url = start_server(kind, max_sessions=args.clients, env_threads=args.env_threads,
                             workers=args.workers if kind == "drugenv" else 1, asgi_server=args.asgi_server,
                             serve_replicas=serve_replicas, serve_ingress=args.serve_ingress)
    try:
        result = _run(run_load(url, args, server_pid=proc.pid))
        if serve_replicas and args.serve_ingress == "haproxy":
            result["haproxy_sessions"] = _haproxy_sessions()
        return result
    finally:
        stop_server(proc, SERVE_STOP_TIMEOUT_S if serve_replicas else 15)


def _haproxy_sessions() -> dict[str, int]:
    """``serve.apps.haproxy_sessions()`` (``serve/`` is not in the package: imported from the repository root)."""
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        from serve.apps import haproxy_sessions
    finally:
        sys.path.pop(0)
    return haproxy_sessions()


def stop_server(proc: subprocess.Popen, timeout_s: float = 15) -> None:
    """Terminate a server this benchmark started; kill it if it has not exited in ``timeout_s``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()


# ------------------------------------------------------------------------------------ /proc
def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux ``/proc``; only ``pid`` elsewhere)."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", encoding="utf-8") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return pids


def sessions_per_process(pid: int, port: int) -> Optional[list[int]]:
    """Open connections to ``port`` held by each serving process of ``pid`` (its workers, if it has any),
    largest first; None where ``/proc`` cannot tell."""
    established, listening = set(), set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="utf-8") as f:
                next(f)
                for row in f:
                    cols = row.split()  # local address, remote address, state (01 established, 0A listen), ..., inode
                    if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] in ("01", "0A"):
                        (established if cols[3] == "01" else listening).add(cols[9])
        except OSError:
            return None
    pids = process_tree(pid)
    counts = []
    for p in pids[1:] or pids:  # with --workers the first process only manages the others
        try:
            inodes = [link[8:-1] for link in (os.readlink(f"/proc/{p}/fd/{fd}") for fd in os.listdir(f"/proc/{p}/fd"))
                      if link.startswith("socket:[")]
        except OSError:
            return None
        if listening.intersection(inodes):  # a worker, not a helper process (multiprocessing's resource tracker)
            counts.append(sum(inode in established for inode in inodes))
    return sorted(counts, reverse=True)


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (Linux ``/proc``), bytes."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status", encoding="utf-8") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return total


# ------------------------------------------------------------------------------------ memory


class _Holder(_Session):
    """A session left mid-episode: a reset (procedural) then ``steps`` investigations, never a report;
    ``done`` resolves when it has played them (the connection stays open)."""

    def __init__(self, seed: int, steps: int):
        super().__init__()
        self.seed, self.left, self.rng = seed, steps, random.Random(seed)

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        super().on_ws_connected(transport)
        self.send({"type": "reset", "data": {"seed": self.seed}})

    def on_message(self, message: dict[str, Any]) -> None:
        from drugenv.actions import ACTION_TABLE, ActionType

        if message["type"] != "observation" or message["data"]["done"]:
            raise UnexpectedFrame(message)
        if not self.left:
            self.done.set_result(None)
            return
        self.left -= 1
        obs = message["data"]["observation"]
        # No report (step_count 0) and never the last credits: the episode stays open.
        cheap = [a for a in obs["legal_actions"] if ACTION_TABLE[ActionType(a)].cost < obs["credits_remaining"]]
        self.send({"type": "step", "data": random_action(self.rng, {**obs, "step_count": 0, "legal_actions": cheap})})


async def open_sessions(url: str, n: int, steps: int, seed: int) -> list[_Holder]:
    """``n`` sockets, each mid-episode (``_Holder``)."""
    holders = typing.cast(list[_Holder], await _connect(url, [functools.partial(_Holder, seed + i, steps) for i in range(n)]))
    await asyncio.gather(*(h.done for h in holders))
    return holders


def measure_memory(kind: str, args: Args) -> dict[str, float]:
    proc, url = start_server(kind, max_sessions=args.memory_sessions, env_threads=args.env_threads,
                             workers=args.workers if kind == "drugenv" else 1, asgi_server=args.asgi_server)

    async def run() -> dict[str, float]:
        _hang_up(await open_sessions(url, 4, args.memory_steps, args.seed))  # warm-up: lazy imports, caches
        await asyncio.sleep(0.5)
        before = rss_bytes(proc.pid)
        holders = await open_sessions(url, args.memory_sessions, args.memory_steps, args.seed + 10_000)
        await asyncio.sleep(0.5)
        after = rss_bytes(proc.pid)
        _hang_up(holders)
        return {"sessions": args.memory_sessions, "rss_before_mb": round(before / 2**20, 1),
                "rss_after_mb": round(after / 2**20, 1),
                "kb_per_session": round((after - before) / args.memory_sessions / 1024, 1)}

    try:
        return _run(run())
    finally:
        stop_server(proc)


def main(args: Args) -> None:
    if args.serve:
        serve(args.serve, args.port, max_sessions=args.clients, env_threads=args.env_threads, workers=args.workers,
              asgi_server=args.asgi_server)
        return
    check_args(args, at_least={"clients": 1, "episodes": 1, "max_steps": 1, "repeats": 1, "env_threads": 0, "workers": 1,
                               "serve_replicas": 0, "memory_sessions": 0, "memory_steps": 0})
    from drugenv.errors import ConfigError
    from drugenv.simulator.params import SimParams

    cap = SimParams().max_steps
    if args.memory_sessions and args.memory_steps >= cap:  # the sessions must stay open, mid-episode
        raise ConfigError(f"--memory-steps must be fewer than the episode's {cap}-step cap, got {args.memory_steps}")
    if args.serve_replicas and (args.workers != 1 or args.asgi_server != "uvicorn" or args.memory_sessions):
        raise ConfigError("--serve-replicas measures the Serve app's throughput: leave out --workers, --asgi-server "
                          "and --memory-sessions (they set up drugenv serve-env)")
    if args.serve_ingress != "proxy" and not args.serve_replicas:
        raise ConfigError("--serve-ingress sets up the Serve app: give --serve-replicas N too")
    print(f"config: {asdict(args)}")
    load_before = os.getloadavg()[0]
    if args.memory_sessions > 0:
        print(f"load average {load_before:.2f}")
        kinds = ["drugenv", "reference"] if args.servers == "both" else [args.servers]
        memory = {}
        for kind in kinds:
            memory[kind] = measure_memory(kind, args)
            print(f"{kind:<10} {memory[kind]}", flush=True)
        if args.json_out:
            _write(args, {"memory": memory}, load_before)
        return
    kinds = ["drugenv", "reference"] if args.servers == "both" else [args.servers]
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    for r in range(args.repeats):
        for kind in (kinds if r % 2 == 0 else kinds[::-1]):
            runs[kind].append(measure(kind, args))
            print(f"run {r}: {kind:<10} {runs[kind][-1]}", flush=True)
    loads = {run.pop("load_sha256") for kind in kinds for run in runs[kind]}
    if len(loads) != 1:  # the same seeds must have drawn the same actions from every server's observations
        raise RuntimeError(f"the servers were sent different loads ({len(loads)} digests): they played other episodes")
    # Rounded: with an even --repeats a median is the mean of two runs, whose float noise (1234.5600000001)
    # would otherwise land in the record.
    results: dict[str, Any] = {kind: {key: round(statistics.median(run[key] for run in runs[kind]), 4) for key, value
                                      in runs[kind][0].items() if isinstance(value, (int, float))} for kind in kinds}
    results["load_sha256"] = loads.pop()
    print(f"\nmedians over {args.repeats} alternating runs:")
    print(f"\n{'server':<10} {'steps':>7} {'wall_s':>8} {'steps/s':>9} {'p50_ms':>8} {'p99_ms':>8}")
    for kind in kinds:
        r = results[kind]
        print(f"{kind:<10} {r['steps']:>7} {r['wall_s']:>8} {r['steps_per_s']:>9} {r['p50_ms']:>8} {r['p99_ms']:>8}")
    print(f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    if len(kinds) == 2:
        ours, ref = results["drugenv"], results["reference"]
        results["ratio"] = {"steps_per_s": round(ours["steps_per_s"] / ref["steps_per_s"], 4),
                            "p50_ms": round(ours["p50_ms"] / ref["p50_ms"], 2),
                            "p99_ms": round(ours["p99_ms"] / ref["p99_ms"], 2)}
        print(f"\nratio drugenv/reference: throughput x{results['ratio']['steps_per_s']}, "
              f"p50 latency x{results['ratio']['p50_ms']}, p99 latency x{results['ratio']['p99_ms']}")
        pairs = [f"x{a['steps_per_s'] / b['steps_per_s']:.2f}" for a, b in zip(runs["drugenv"], runs["reference"])]
        print(f"throughput ratio of each alternating pair: {' '.join(pairs)}")
    if args.json_out:
        _write(args, {**results, "runs": runs}, load_before)


def _write(args: Args, results: dict[str, Any], load_before: float) -> None:
    from records import write_record

    config = {k: v for k, v in asdict(args).items() if k not in ("json_out", "serve", "port")}
    write_record(args.json_out, "bench_server", config, results, load_before, os.getloadavg()[0])


if __name__ == "__main__":
    from records import cli

    sys.exit(cli(main, Args, "bench_server.py"))
