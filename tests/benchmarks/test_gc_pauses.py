"""`benchmarks/gc_pauses.py`: every process of a bench_server run times its own collections, and only those
inside a run's measured window are counted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from benchmark_scripts import ROOT, load

pytest.importorskip("picows")  # bench_server.py's load generator (the test extra)


def test_only_collections_inside_the_window_count():
    gc_pauses = load("gc_pauses")
    pauses = [[0, 10.0, 0.001], [0, 20.5, 0.002], [1, 21.0, 0.004], [2, 30.0, 0.1], [0, 25.0, 0.003]]
    assert gc_pauses.in_window(pauses, 20.0, 26.0) == {
        "gen0": {"count": 2, "total_ms": 5.0, "longest_ms": 3.0},
        "gen1": {"count": 1, "total_ms": 4.0, "longest_ms": 4.0}}
    assert gc_pauses.in_window(pauses, 40.0, 50.0) == {}


def test_a_run_reports_the_processes_of_the_server_it_measured(tmp_path):
    out = tmp_path / "gc.json"
    run = subprocess.run([sys.executable, "benchmarks/gc_pauses.py", "--clients", "4", "--episodes", "3", "--repeats", "1",
                          "--workers", "2", "--json-out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(out.read_text(encoding="utf-8"))["results"]
    # the load generator, the server's manager and both its workers each timed their collections
    probed = [who.rsplit(" ", 1)[0] for who in results["probed"]]
    assert probed.count("load generator") == 1 and probed.count("server drugenv") == 3, probed
    (measured,) = results["drugenv"]
    assert measured["steps_per_s"] > 0 and measured["window_s"] > 0
    # every process named is the load generator or the server (a process without collections in the window is left out)
    assert all(who.startswith(("load generator ", "server drugenv ")) for who in measured["collections"])
    assert all(set(gens) <= {"gen0", "gen1", "gen2"} for gens in measured["collections"].values())
