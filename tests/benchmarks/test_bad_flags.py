"""Every benchmark refuses a bad flag value before any work, in one line (exit 2), as drugenv's commands do:
they were tracebacks (ZeroDivisionError, StatisticsError, a server that "did not start") after minutes of work,
and a --json-out that could not be written lost the record after the whole run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CASES = [
    ("bench_env.py", ["--steps", "0"], "--steps must be >= 1, got 0"),
    ("bench_env.py", ["--json-out", "{FILE}/x.json"], "is a file, so no folder can be made under it"),
    ("ceilings.py", ["--turn", "0"], "--turn must be >= 1, got 0"),
    ("ceilings.py", ["--cython-modules", "drugenv/nope.py"], "--cython-modules drugenv/nope.py matches no file"),
    ("interleave.py", ["--steps", "0"], "--steps must be >= 1, got 0"),
    ("encode_observation.py", ["--repeats", "0"], "--repeats must be >= 1, got 0"),
    ("encode_vector.py", ["--episodes", "0"], "--episodes must be >= 1, got 0"),
    ("bench_server.py", ["--clients", "0"], "--clients must be >= 1, got 0"),
    ("bench_server.py", ["--memory-sessions", "8", "--memory-steps", "40"], "fewer than the episode's 30-step cap"),
    ("bench_server.py", ["--serve-ingress", "haproxy"], "give --serve-replicas N too"),
    ("gc_pauses.py", ["--workers", "0"], "--workers must be >= 1, got 0"),
    ("bench_ppo.py", ["--envs-per-runner"], "--envs-per-runner needs at least one value"),
    ("bench_ppo.py", ["--config", "/nonexistent/ppo.py"], "not found"),
    ("bench_grpo.py", ["--iterations", "0"], "--iterations must be >= 1, got 0"),
    ("bench_agent_service.py", ["--clients", "1", "0"], "--clients must be >= 1, got 0"),
    ("bench_agent_service.py", ["--write", "docs/server.md"], "--write needs --table"),
    ("bench_agent_service.py", ["--table", "/nonexistent/agent_service.json"], "cannot be read as JSON"),
    ("bench_agent_service.py", ["--table", str(ROOT / "docs/results/baselines.json")], "not a record of bench_agent_service.py"),
    ("goals.py", ["--records", "/nonexistent"], "is not a folder of benchmark records"),
    ("real_size_cpu.py", ["--sample-s", "0"], "--sample-s must be > 0"),
    ("real_size_cpu.py", ["--write", "docs/gpu.md"], "--write needs --table"),
    ("real_size_cpu.py", ["--table", str(ROOT / "docs/results/baselines.json")], "not a record of real_size_cpu.py"),
]


@pytest.mark.parametrize("script,flags,message", CASES, ids=[f"{c[0]} {' '.join(c[1])}" for c in CASES])
def test_a_bad_flag_is_one_line_and_exit_2(script, flags, message, tmp_path, tmp_path_factory):
    a_file = tmp_path_factory.mktemp("in_the_way") / "a_file"  # a file where --json-out needs a folder
    a_file.write_text("", encoding="utf-8")
    flags = [f.replace("{FILE}", str(a_file)) for f in flags]
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *flags], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"})
    assert run.returncode == 2, run.stderr[-2000:]
    assert "Traceback" not in run.stderr and message in run.stderr, run.stderr[-2000:]
    assert run.stderr.strip().splitlines()[-1].startswith(f"benchmarks/{script}: error: ")
    assert "Started a local Ray instance" not in run.stderr + run.stdout  # refused before Ray starts
    assert list(tmp_path.iterdir()) == []  # and nothing written
