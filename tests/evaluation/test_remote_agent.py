"""An agent over HTTP (``serve:URL``, ``drugenv.agents.remote``) scored by ``drugenv eval``: real servers on
127.0.0.1 answering ``POST /act``; the episodes stay on the in-process simulator."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest

from drugenv.errors import ConfigError, RemoteAgentError
from drugenv.evaluation.agents import make_policy
from drugenv.evaluation.evaluate import evaluate

pytest.importorskip("httpx")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/safety_and_potency.py:SafetyAndPotency"


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "drugenv.cli", "eval", "--no-progress", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def example_agent() -> Iterator[str]:
    """``examples/http_agent.py`` on a free loopback port, as its docstring runs it; its URL."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "examples/http_agent.py", "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving SafetyAndPotency on http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        yield line.split(" on ", 1)[1].strip().removesuffix("/act")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()


@pytest.fixture
def agent_server() -> Iterator[Callable[[Callable[[dict], tuple[int, str]]], str]]:
    """``start(answer) -> URL``: a threaded HTTP server on 127.0.0.1 whose ``POST /act`` answers
    ``answer(observation) -> (status, body)``; stopped afterwards."""
    servers = []

    def start(answer: Callable[[dict], tuple[int, str]]) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, text = answer(body)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_example_http_agent_scores_exactly_as_in_process(example_agent, tmp_path):
    out = tmp_path / "remote.json"
    res = _cli("--agent", f"serve:{example_agent}", "--paired", EXAMPLE, "--suite", "procedural-test", "--episodes", "30",
               "--out", str(out))
    assert res.returncode == 0, res.stderr
    payload = json.loads(out.read_text(encoding="utf-8"))
    for metric, d in payload["paired"]["diff"].items():
        assert d["diff"] == 0 and d["mean"] == d["ref_mean"], metric
    assert {r["decision"] for r in payload["records"]} == {"go", "no_go"}


def test_one_request_per_step_of_each_running_episode_sent_together(agent_server):
    from drugenv.agents.baselines import HeuristicPolicy

    heuristic, lock = HeuristicPolicy(), threading.Lock()
    seen = {"requests": 0, "in_flight": 0, "most_in_flight": 0, "done": 0}

    def answer(observation: dict) -> tuple[int, str]:
        from drugenv import ValidationObservation

        with lock:
            seen["requests"] += 1
            seen["in_flight"] += 1
            seen["most_in_flight"] = max(seen["most_in_flight"], seen["in_flight"])
        obs = ValidationObservation.model_validate(observation)
        with lock:
            seen["done"] += obs.done
        time.sleep(0.05)  # the requests of one lockstep step overlap
        action = heuristic.act([obs])[0]  # the heuristic reads only the observation: it keeps no state
        with lock:
            seen["in_flight"] -= 1
        return 200, json.dumps({"action": action.model_dump(mode="json"), "text": "ignored"})

    remote = make_policy(f"serve:{agent_server(answer)}")
    summary, records = evaluate(remote, "curated", 4, 0, batch_size=4, progress=False)
    local_summary, _ = evaluate(HeuristicPolicy(), "curated", 4, 0, batch_size=4, progress=False)
    assert summary == local_summary
    assert seen["requests"] == sum(r.steps for r in records) and seen["done"] == 0  # none for a finished episode
    assert seen["most_in_flight"] >= 2


def test_a_malformed_action_from_the_agent_is_a_penalised_step(agent_server):
    url = agent_server(lambda obs: (200, json.dumps({"action": {"action_type": "guess_the_answer"}})))
    summary, records = evaluate(make_policy(f"serve:{url}"), "curated", 2, 0, max_steps=3, progress=False)
    assert summary["report_rate"] == 0 and all(r.violations == 3 and r.steps == 3 for r in records)


@pytest.mark.parametrize("status, body, message", [
    (500, "Internal Server Error", "POST /act answered 500: Internal Server Error"),
    (422, '{"detail": "the prompt is too long"}', 'POST /act answered 422: {"detail": "the prompt is too long"}'),
    (200, "not json", 'answered without an "action" object'),
    (200, '{"action": "go"}', 'answered without an "action" object'),
])
def test_an_agent_outside_the_contract_is_a_remote_agent_error(agent_server, status, body, message):
    url = agent_server(lambda obs: (status, body))
    with pytest.raises(RemoteAgentError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        evaluate(make_policy(f"serve:{url}"), "curated", 1, 0, progress=False)
    assert e.value.url == url


def test_a_slow_agent_times_out_by_its_extra(agent_server):
    url = agent_server(lambda obs: (time.sleep(1.5), (200, "{}"))[1])
    with pytest.raises(RemoteAgentError, match="no answer to POST /act within 0.3 s"):
        evaluate(make_policy(f"serve:{url}", timeout=0.3), "curated", 1, 0, progress=False)


def test_no_agent_there_is_one_line_from_the_cli():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = _cli("--agent", f"serve:http://127.0.0.1:{port}", "--episodes", "1")
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"drugenv eval: error: the agent at http://127.0.0.1:{port}: POST /act failed (ConnectError")
    assert line.endswith("is the agent running there?")


def test_a_spec_that_is_no_http_address_or_takes_another_extra():
    for spec in ("serve:ftp://x", "serve:", "serve:127.0.0.1:8001"):
        with pytest.raises(ConfigError, match="needs the agent's http\\(s\\) address"):
            make_policy(spec)
    with pytest.raises(ConfigError, match="agent serve:URL does not take --extra colour"):
        make_policy("serve:http://127.0.0.1:9", colour="red")


@pytest.mark.parametrize("url,problem", [
    ("http://127.0.0.1:abc", "Invalid port: 'abc'"),  # a typo'd port: httpx's InvalidURL traceback at the first request
    ("http://[::1", "Invalid port: ':1'"),
    ("http://", "it names no host"),
    ("http://127.0.0.1:99999", "port 99999 is out of range"),
    ("http://127.0.0.1:8011/?key=1", "it has a query or fragment"),
])
def test_an_address_httpx_cannot_send_to_is_refused_before_any_episode(url, problem):
    with pytest.raises(ConfigError, match=re.escape(f"serve:URL {url!r} is not an agent's address: {problem}")):
        make_policy(f"serve:{url}")
    res = _cli("--agent", f"serve:{url}", "--episodes", "1")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr


def test_sealed_episodes_send_an_http_agent_no_seed(agent_server, monkeypatch, tmp_path):
    """Sealed, the agent over HTTP gets observations without a seed (it cannot regenerate its world), and
    the same secret replays the same episodes, other than the public ones."""
    from drugenv.agents.baselines import HeuristicPolicy
    from drugenv.models import ValidationObservation

    metadata = []

    def answer(observation: dict) -> tuple[int, str]:
        metadata.append(observation["metadata"])
        action = HeuristicPolicy().act([ValidationObservation.model_validate(observation)])[0]
        return 200, json.dumps({"action": action.model_dump(mode="json")})

    url = agent_server(answer)
    sealed, sealed_records = evaluate(make_policy(f"serve:{url}"), "procedural-test", 6, 0, progress=False, seal="s3cret")
    assert metadata and all(m.get("sealed") is True and "seed" not in m for m in metadata)
    again, _ = evaluate(make_policy(f"serve:{url}"), "procedural-test", 6, 0, progress=False, seal="s3cret")
    public, public_records = evaluate(make_policy(f"serve:{url}"), "procedural-test", 6, 0, progress=False)
    assert again == sealed and public != sealed
    assert [r.seed for r in sealed_records] == [r.seed for r in public_records]  # the same public seeds, other worlds
    # drugenv eval reads the secret from DRUGENV_SEAL, says it played sealed episodes, and refuses an empty one
    out = tmp_path / "sealed.json"
    res = subprocess.run([sys.executable, "-m", "drugenv.cli", "eval", "--no-progress", "--agent", "heuristic", "--suite",
                          "procedural-test", "--episodes", "6", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "DRUGENV_SEAL": "s3cret"}, timeout=300)
    assert res.returncode == 0 and "(6 episodes, seed 0, sealed)" in res.stdout, res.stderr
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["sealed"] is True and payload["summary"] == pytest.approx(sealed)
    res = subprocess.run([sys.executable, "-m", "drugenv.cli", "eval", "--no-progress", "--episodes", "1"], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT), "DRUGENV_SEAL": ""}, timeout=300)
    assert res.returncode == 2 and res.stderr.strip() == (
        "drugenv eval: error: DRUGENV_SEAL is set but empty: give the secret, or unset it to play public episodes")
