"""Garbage-collector pauses inside ``bench_server.py``'s measured windows: is a server's p99 made of them?

How to run::

    python benchmarks/gc_pauses.py --clients 32 --episodes 20 --workers 2 --repeats 3
    python benchmarks/gc_pauses.py --clients 32 --episodes 6 --servers both

Runs ``bench_server.py`` with its arguments, every Python process of the run (the load generator, each
server and each worker) timing its own collections through ``gc.callbacks`` (a ``sitecustomize``
module on ``PYTHONPATH``; nothing in the servers changes). Then, for each run's measured window
(``window_unix_s`` in its record), prints the run's steps/s and p99 and each process's collections
inside it: how many of each generation, their total and their longest pause. A pause longer than
the p99 stalls every session that process holds, so collections can make a p99 only where the
longest in-window pause is of its size. Results to expect: ``docs/performance_history.md``,
"Sixteenth round".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Optional

from records import check_args


_PROBE = '''
import atexit, gc, json, os, sys, time
_started, _pauses = [0.0], []
def _time_collections(phase, info):
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        _pauses.append([info["generation"], time.time(), time.perf_counter() - _started[0]])
gc.callbacks.append(_time_collections)
def _write():
    with open(os.path.join(os.environ["DRUGENV_GC_PROBE_DIR"], f"{os.getpid()}.json"), "w") as f:
        json.dump({"argv": sys.argv, "pid": os.getpid(), "pauses": _pauses}, f)
atexit.register(_write)
# uvicorn's worker processes end by the SIGTERM their manager sent: once a worker has shut down, uvicorn
# puts back the handler it found (this one) and raises the signal again.
import signal
def _write_then_terminate(signum, frame):
    _write()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
signal.signal(signal.SIGTERM, _write_then_terminate)
'''


@dataclass
class Args:
    clients: int = 32
    """Concurrent WebSocket sessions (``bench_server.py --clients``)."""
    episodes: int = 20
    """Measured episodes per client (``bench_server.py --episodes``)."""
    workers: int = 1
    """DrugEnv server processes (``bench_server.py --workers``)."""
    repeats: int = 3
    """Runs per server, alternating (``bench_server.py --repeats``)."""
    servers: Literal["both", "drugenv", "reference"] = "drugenv"
    """Which servers to measure (``bench_server.py --servers``)."""
    json_out: Optional[str] = None
    """Also write each run (steps/s, p99, window) and its processes' in-window collections to this path
    (``benchmarks/records.py``'s envelope)."""


def _role(argv: list[str]) -> str:
    if "--serve" in argv:
        return "server " + argv[argv.index("--serve") + 1]
    return "load generator" if any(a.endswith("bench_server.py") for a in argv) else "other (" + " ".join(argv)[:40] + ")"


def in_window(pauses: list[list[float]], start: float, end: float) -> dict[str, dict[str, float]]:
    """The collections of one process between ``start`` and ``end`` (Unix time), by generation:
    count, total and longest pause in ms."""
    out = {}
    for gen in (0, 1, 2):
        ms = [1000 * pause for g, at, pause in pauses if g == gen and start <= at <= end]
        if ms:
            out[f"gen{gen}"] = {"count": len(ms), "total_ms": round(sum(ms), 2), "longest_ms": round(max(ms), 2)}
    return out


def main(args: Args) -> None:
    check_args(args, at_least={"clients": 1, "episodes": 1, "workers": 1, "repeats": 1})
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        probe_dir, record = Path(tmp) / "probe", Path(tmp) / "run.json"
        probe_dir.mkdir()
        (Path(tmp) / "sitecustomize.py").write_text(_PROBE, encoding="utf-8")
        env = {**os.environ, "DRUGENV_GC_PROBE_DIR": str(probe_dir),
               "PYTHONPATH": os.pathsep.join(filter(None, [tmp, os.environ.get("PYTHONPATH")]))}
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in asdict(args).items() if k != "json_out"]
        subprocess.run([sys.executable, str(Path(__file__).with_name("bench_server.py")), *flags, "--json-out", str(record)],
                       env=env, check=True)
        runs = json.loads(record.read_text(encoding="utf-8"))["results"]["runs"]
        processes = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(probe_dir.glob("*.json"))]
    print("\ncollections inside each measured window (gen: count, total ms, longest ms)")
    results: dict[str, list[dict[str, Any]]] = {}
    for kind, kind_runs in runs.items():
        for i, run in enumerate(kind_runs):
            start, end = run["window_unix_s"]
            print(f"\n{kind} run {i}: {run['steps_per_s']} steps/s, p99 {run['p99_ms']} ms, window {end - start:.2f} s")
            collections = {}
            for proc in processes:
                gens = in_window(proc["pauses"], start, end)
                if gens:
                    who = f"{_role(proc['argv'])} {proc['pid']}"
                    collections[who] = gens
                    print(f"  {who:<24} " + " | ".join(f"{g}: {c['count']}, {c['total_ms']:.1f}, {c['longest_ms']:.2f}"
                                                        for g, c in gens.items()))
            results.setdefault(kind, []).append({"steps_per_s": run["steps_per_s"], "p99_ms": run["p99_ms"],
                                                 "window_s": round(end - start, 3), "collections": collections})
    # every process that wrote its collections (uvicorn's workers write theirs when their SIGTERM ends them)
    results["probed"] = sorted(f"{_role(proc['argv'])} {proc['pid']}" for proc in processes)  # type: ignore[assignment]
    if args.json_out:
        from records import write_record

        write_record(args.json_out, "gc_pauses", {k: v for k, v in asdict(args).items() if k != "json_out"}, results,
                     load_before, os.getloadavg()[0])


if __name__ == "__main__":
    from records import cli

    sys.exit(cli(main, Args, "gc_pauses.py"))
