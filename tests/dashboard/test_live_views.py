"""The dashboard's live views: one read of the files per view, a bound on open streams, and a clean stop."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from drugenv.dashboard import runs as runs_mod
from drugenv.server.serve import free_port

from .conftest import make_grpo_run

ROOT = Path(__file__).resolve().parents[2]


def _first_frame(lines) -> dict:
    """The first frame of a stream's ``iter_lines()``; keep ``lines`` referenced while the stream should stay
    open (httpcore closes the connection when the iterator is collected)."""
    return json.loads(next(line for line in lines if line.startswith("data:"))[5:])


def test_pages_following_one_run_share_each_read_of_its_files(serve_dashboard, runs_root, monkeypatch):
    # Every stream read the run's files itself: eight pages open on a run read them eight times a poll.
    make_grpo_run(runs_root, "watched", finished=False)
    reads = iter(range(10**6))
    real_load_run = runs_mod.load_run

    def load_run(*args, **kwargs):  # each read of the run's files gets a number of its own
        return real_load_run(*args, **kwargs).model_copy(update={"updated_at": float(next(reads))})

    monkeypatch.setattr(runs_mod, "load_run", load_run)
    base = serve_dashboard(runs_root, poll_s=0.05)
    seen: list[set[float]] = [set() for _ in range(8)]
    ready = threading.Barrier(len(seen))

    def follow(i: int) -> None:
        with httpx.stream("GET", f"{base}/api/stream/run/watched", timeout=30) as r:
            for line in r.iter_lines():
                if line.startswith("data:"):
                    seen[i].add(json.loads(line[5:])["updated_at"])
                    if len(seen[i]) == 1:
                        ready.wait(timeout=30)  # all open before anyone counts
                    if len(seen[i]) >= 15:
                        return

    threads = [threading.Thread(target=follow, args=(i,)) for i in range(len(seen))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(len(s) >= 15 for s in seen)
    # One read, sent to every page following the run (with a read per stream, each read reached one page).
    assert set.intersection(*seen), "no read of the run's files reached every page that follows it"


def test_streams_beyond_the_cap_are_503s_and_a_closed_one_frees_its_slot(serve_dashboard, runs_root):
    make_grpo_run(runs_root, "watched", finished=False)
    base = serve_dashboard(runs_root, max_live_views=2)
    with httpx.Client(timeout=30) as client, contextlib.ExitStack() as first_stream:
        first = first_stream.enter_context(client.stream("GET", f"{base}/api/stream/run/watched"))
        first_lines = first.iter_lines()
        assert first.status_code == 200 and _first_frame(first_lines)["id"] == "watched"
        with client.stream("GET", f"{base}/api/stream/runs/") as second:
            second_lines = second.iter_lines()
            assert second.status_code == 200 and "runs" in _first_frame(second_lines)
            third = client.get(f"{base}/api/stream/run/watched")
            assert third.status_code == 503 and "live views are open" in third.json()["detail"]
            assert client.get(f"{base}/api/runs/watched").status_code == 200  # the page's first read still works
        first_stream.close()
        deadline = time.monotonic() + 30
        while (status := client.get(f"{base}/api/stream/run/unknown_run").status_code) == 503:
            assert time.monotonic() < deadline, "closed streams never gave their slots back"
            time.sleep(0.05)
        assert status == 404  # a slot again: an unknown run is a 404, before any stream starts


def test_stopping_the_dashboard_ends_open_streams_cleanly(tmp_path):
    # uvicorn waits for open responses, and a page's stream never ends: a stop waited out the 3 s graceful
    # timeout, then cut the stream mid-response and logged its cancellation.
    make_grpo_run(tmp_path, "watched", finished=False)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "drugenv.cli", "dashboard", "--runs", str(tmp_path), "--host", "127.0.0.1",
                             "--port", str(port), "--poll", "0.1"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/api/runs", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.1)
        with httpx.stream("GET", f"{base}/api/stream/run/watched", timeout=30) as r:
            lines = r.iter_lines()
            assert next(line for line in lines if line.startswith("data:"))
            proc.send_signal(signal.SIGINT)
            rest = list(lines)  # the stream ends, whole: an httpx.RemoteProtocolError if it was cut
        assert all(not line.startswith("data:") or json.loads(line[5:]) for line in rest)
        _, err = proc.communicate(timeout=30)
        # 130 is Ctrl-C's exit status; uvicorn re-raises the signal it caught once it has stopped, and where the
        # parent ignores SIGINT (a background job of a non-interactive shell, as a CI script runs) that is 0.
        assert proc.returncode in (130, 0), err
        assert "Cancel" not in err and "Traceback" not in err, err
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_view_that_cannot_be_read_ends_its_streams():
    # The page reconnects, and its next request answers what went wrong; the stream did not hang on heartbeats.
    import asyncio
    import concurrent.futures

    from drugenv.dashboard.live import LiveViews

    views = LiveViews(poll_s=0.01)

    def fetch() -> str:
        raise OSError("the disk went away")

    async def follow() -> list[str]:
        return [frame async for frame in views.follow(("run", "x"), fetch, first='{"id": "x"}')]

    # A loop of its own, in a thread: the browser tests' Playwright keeps one running in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        frames = pool.submit(lambda: asyncio.run(follow())).result(timeout=30)
    assert frames == ['data: {"id": "x"}\n\n']
    assert views.followers == 0 and not views.is_open(("run", "x"))
