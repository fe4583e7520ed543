"""The record a benchmark writes with ``--json-out``: its results, and enough about where and when
they were measured to judge them (the machine, the load average, the commit).

Every benchmark in this folder writes the same envelope, so ``benchmarks/goals.py`` can read any of
them and set the numbers against issue 14's goals::

    {"benchmark": "bench_env", "measured_at": "2026-11-30T23:10:02+00:00", "commit": "6c651ad",
     "host": {"cpu": "...", "cores": 2, "python": "3.11.7", "numpy": "...", "platform": "..."},
     "load_average": {"before": 0.02, "after": 0.18}, "config": {...}, "results": {...}}

Throughput depends on the machine: compare numbers only within one record (each benchmark measures
the things it compares side by side, in one run).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parents[1]


def pass_ratio(results: dict[str, Any], num: str, den: str) -> float:
    """Row ``num``'s steps/s over row ``den``'s in one ``bench_env`` record: the median of the ratios of its
    passes where it ran several (each pass measures both rows minutes apart at most, so a box that drifts
    between passes moves both), else the ratio of its rates (records of a single pass)."""
    import statistics

    passes = results.get("passes")
    if passes:
        return statistics.median(p[num] / p[den] for p in passes)
    return results["steps_per_s"][num] / results["steps_per_s"][den]


def best_us_per_item(runs: dict[str, Callable[[], None]], items: int, repeats: int, detail: str = "") -> dict[str, float]:
    """CPU µs per item of each of ``runs`` (each a pass over the same ``items`` items), the best of
    ``repeats`` timed passes each; prints a line per run (``detail`` appended). For the encoder
    benchmarks, which set two encoders against each other on the same observations."""
    best = {}
    width = max(map(len, runs))
    for name, run in runs.items():
        times = []
        for _ in range(repeats):
            t0 = time.process_time()
            run()
            times.append(time.process_time() - t0)
        best[name] = min(times) / items * 1e6
        print(f"{name:>{width}}: {best[name]:.2f} us per observation (best of {repeats}, {items} observations{detail})")
    return best


def host_info() -> dict[str, Any]:
    """The CPU model, how many cores this process may use, and the versions that set the speed."""
    import numpy as np

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:  # Linux: platform.processor() is often empty or just the arch
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform()}


def commit() -> Optional[str]:
    """The checkout's short commit, with ``+dirty`` when tracked files outside ``docs/results`` differ from it; None outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        # Records already written in docs/results/ are this run's outputs, not a change to what it measured.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/results"], cwd=ROOT,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


def _repo_relative(value: Any) -> Any:
    """A path inside this repository as a relative path (a record names no machine's directories)."""
    if isinstance(value, str) and value.startswith(str(ROOT) + os.sep):
        return os.path.relpath(value, ROOT)
    return value


def write_record(path: str, benchmark: str, config: dict[str, Any], results: dict[str, Any],
                 load_before: float, load_after: float) -> dict[str, Any]:
    """Write ``results`` in the common envelope to ``path`` (JSON) and return the record."""
    config = {k: _repo_relative(v) for k, v in config.items()}
    record = {"benchmark": benchmark,
              "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "commit": commit(), "host": host_info(),
              "load_average": {"before": round(load_before, 2), "after": round(load_after, 2)},
              "config": config, "results": results}
    from drugenv.cli import write_text_atomic  # a failed write keeps the previous record whole

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(record, indent=2) + "\n")
    return record


def read_records(paths: list[str], benchmark: str, written_by: str) -> list[dict[str, Any]]:
    """The records at ``paths`` (``--table``'s), each with its file name as ``file``: a ``ConfigError`` for a file
    that is no JSON, or no record of ``benchmark`` (``written_by`` says which flag writes one)."""
    from drugenv.errors import ConfigError

    records = []
    for p in paths:
        try:
            rec = json.loads(Path(p).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"--table {p}: cannot be read as JSON ({type(e).__name__}: {e})") from None
        if not (isinstance(rec, dict) and rec.get("benchmark") == benchmark):
            raise ConfigError(f"--table {p}: not a record of {benchmark}.py (written by {written_by})")
        records.append({**rec, "file": Path(p).name})
    return records


def write_block(page: Path, name: str, begin: str, end: str, block: str) -> bool:
    """Replace ``page``'s generated block ``<!-- bench:NAME ... -->`` with ``block`` between the markers ``begin``
    and ``end``; True if the text changed (the README's results blocks' machinery)."""
    from drugenv.errors import ConfigError
    from drugenv.evaluation.results_table import replace_block

    text = page.read_text(encoding="utf-8")
    if not replace_block("bench", name, f"{begin}\n{block}\n{end}", page):
        raise ConfigError(f"{page} has no generated block (a line {begin!r}, then one {end!r})")
    return page.read_text(encoding="utf-8") != text


def table_mode(args: Any, load: Callable[[list[str]], list[dict[str, Any]]], render: Callable[[list[dict[str, Any]]], str],
               write: Callable[[Path, str], bool]) -> None:
    """A benchmark's ``--table PATHS [--write PAGE]``: print the table of committed records, or rewrite the
    page's generated block with it; measures nothing."""
    from drugenv.errors import ConfigError

    if not args.table:
        raise ConfigError("--write needs --table: the records whose table it writes")
    block = render(load(args.table))
    if args.write is None:
        print(block)
    elif not Path(args.write).is_file():
        raise ConfigError(f"--write {args.write} is not a file: it rewrites the generated block of a page that has one")
    else:
        print(f"{args.write}: {'updated' if write(Path(args.write), block) else 'unchanged'}")


def check_args(args: Any, *, at_least: Optional[dict[str, int]] = None, outputs: tuple[str, ...] = ("json_out",)) -> None:
    """Refuse bad flag values before any work is done, as drugenv's own commands do: a ``ConfigError`` that
    ``cli`` prints as one line (exit 2). Each ``at_least`` field must be at least its minimum (a list field:
    every value, and one at least); each ``outputs`` field that is set must be a path a file can be written
    to (checked now: a record that cannot be written would be lost after the whole benchmark ran)."""
    from drugenv.cli import check_output_path
    from drugenv.errors import ConfigError

    for name, low in (at_least or {}).items():
        value, flag = getattr(args, name), "--" + name.replace("_", "-")
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if not values:
            raise ConfigError(f"{flag} needs at least one value")
        bad = next((v for v in values if v < low), None)
        if bad is not None:
            raise ConfigError(f"{flag} must be >= {low}, got {bad}")
    for name in outputs:
        path = getattr(args, name, None)
        if path is not None:
            check_output_path(path, "--" + name.replace("_", "-"))


def cli(main: Callable[[Any], Any], args_type: type, prog: str) -> int:
    """Parse the command line into ``args_type`` and run ``main`` with ``drugenv.cli.run_command``'s handling
    of mistakes (a ``DrugEnvError``: one line on stderr, exit 2)."""
    from drugenv.cli import parse_args, run_command

    return run_command(f"benchmarks/{prog}", main, parse_args(args_type))
