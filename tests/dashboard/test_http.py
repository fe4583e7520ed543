"""The dashboard over HTTP (no browser): bad input gives a clear message, never a 500; the truth of
a live episode is absent from every payload until the episode has ended."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from drugenv.dashboard import create_app
from drugenv.dashboard.cli import DashboardArgs, dashboard_main
from drugenv.errors import ConfigError
from tests.dashboard.conftest import make_grpo_run, make_ppo_run, make_sweep


@pytest.fixture
def client(runs_root):
    with TestClient(create_app(runs_root, step_delay_s=0.02, stale_after_s=600)) as c:
        yield c


def test_no_runs_yet(tmp_path):
    with TestClient(create_app(tmp_path / "not_there")) as c:
        index = c.get("/api/runs").json()
        assert index["exists"] is False and index["runs"] == []
        assert c.get("/").status_code == 200


def test_unknown_run_is_a_404_that_names_the_known_runs(client, runs_root):
    make_grpo_run(runs_root)
    for path in ("/api/runs/nope", "/runs/nope", "/api/stream/run/nope", "/episodes/nope", "/api/episodes/nope",
                 "/runs/..%2F..%2Fetc", "/api/runs/..%2F..%2Fetc"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "grpo_tiny_cpu" in r.text or "Known episodes" in r.text, path
    r = client.get("/no/such/page")
    assert r.status_code == 404 and "There is no page at /no/such/page" in r.text
    for path in ("/api/runs/nope", "/api/no/such/route"):  # the page's script reads JSON from every /api/ answer
        r = client.get(path)
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/json") and r.json()["detail"], path


def test_hidden_folders_and_a_runs_checkpoints_are_not_listed_as_runs(client, runs_root):
    run = make_grpo_run(runs_root)
    for folder in (runs_root / ".cache", run / "checkpoint_000001"):
        folder.mkdir()
        (folder / "settings.json").write_text((run / "settings.json").read_text(encoding="utf-8"), encoding="utf-8")
    assert [r["id"] for r in client.get("/api/runs").json()["runs"]] == [run.name]


def test_corrupt_line_is_reported_and_the_rest_is_drawn(client, runs_root):
    run = make_grpo_run(runs_root, finished=False)
    lines = (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    lines.insert(1, '{"iteration": 2, "env/episode_return_mean": 0.')  # a torn write in the middle of the file
    lines.insert(2, "[1, 2, 3]")
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = client.get("/api/runs/grpo_tiny_cpu")
    assert r.status_code == 200
    d = r.json()
    assert [row["iteration"] for row in d["curve"]] == [1, 2, 3, 4]
    assert any("line 2: not valid JSON" in p for p in d["problems"])
    assert any("line 3: expected an object" in p for p in d["problems"])


def test_an_unterminated_last_line_is_a_write_in_progress(client, runs_root):
    run = make_grpo_run(runs_root, finished=False)
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write('{"iteration": 5, "env/episode')
    d = client.get("/api/runs/grpo_tiny_cpu").json()
    assert d["iteration"] == 4 and d["problems"] == []


def test_missing_and_damaged_files(client, runs_root):
    run = make_grpo_run(runs_root, "no_metrics", finished=False)
    (run / "metrics.jsonl").unlink()
    (run / "evidence" / "before_after_metrics.json").write_text("{oops", encoding="utf-8")
    (run / "settings.json").write_text("[]", encoding="utf-8")
    bare = runs_root / "only_metrics"
    bare.mkdir()
    (bare / "metrics.jsonl").write_text('{"iteration": 1}\n', encoding="utf-8")
    early = make_grpo_run(runs_root, "early", finished=False)
    (early / "metrics.jsonl").unlink()
    d = client.get("/api/runs/early").json()
    assert d["status"] == "running" and "no iteration has finished yet" in d["status_reason"] and d["problems"] == []
    for run_id, expected in (("no_metrics", "metrics.jsonl is missing"), ("no_metrics", "not valid JSON"),
                             ("no_metrics", "settings.json: expected an object"),
                             ("only_metrics", "settings.json is missing")):
        r = client.get(f"/api/runs/{run_id}")
        assert r.status_code == 200
        assert any(expected in p for p in r.json()["problems"]), (run_id, r.json()["problems"])
        assert client.get(f"/runs/{run_id}").status_code == 200
    assert client.get("/api/runs").status_code == 200


def test_status_running_finished_failed(client, runs_root):
    make_grpo_run(runs_root, "done")
    make_grpo_run(runs_root, "training", finished=False)
    stalled = make_grpo_run(runs_root, "stalled", finished=False)
    old = time.time() - 3600
    for p in [stalled, *stalled.rglob("*")]:
        os.utime(p, (old, old))
    runs = {r["id"]: r for r in client.get("/api/runs").json()["runs"]}
    assert runs["done"]["status"] == "finished"
    assert runs["training"]["status"] == "running" and runs["training"]["iteration"] == 4
    assert runs["stalled"]["status"] == "failed" and "no new output" in runs["stalled"]["status_reason"]
    assert runs["done"]["config"]["model"] == "tiny:L2H128"


def test_ppo_run(client, runs_root):
    make_ppo_run(runs_root)
    make_ppo_run(runs_root, "ppo_training", finished=False)
    done = client.get("/api/runs/ppo_vector").json()
    assert done["kind"] == "ppo" and done["status"] == "finished" and done["iteration"] == 4
    assert [r["train/episode_return_mean"] for r in done["curve"]] == [0.2, 0.4]
    assert [r["iteration"] for r in done["checkpoints"]] == [2, 4] and done["settings"] is not None
    assert client.get("/api/runs/ppo_training").json()["status"] == "running"


def test_sweep_detail(client, runs_root):
    make_sweep(runs_root)
    d = client.get("/api/runs/sweeps/reward_weights").json()
    assert d["best_trial_id"] == "t2" and d["metric"] == "heldout/decision_utility"
    assert [t["trial_id"] for t in d["trials"]] == ["t2", "t1", "t0"]
    assert d["params"] == ["config.env_config.reward.novelty_weight"]


def test_live_episode_never_sends_the_truth_before_the_end(runs_root):
    # 0.2 s steps: the 4-step episode outlasts several polls even on a loaded box (at 0.02 s a slow
    # poll could see only the empty start and the end, and "len(unfinished) > 1" failed)
    with TestClient(create_app(runs_root, step_delay_s=0.2, stale_after_s=600)) as client:
        r = client.post("/api/episodes", json={"agent": "oracle", "scenario": "kras_pdac_borderline", "seed": 0})
        assert r.status_code == 201
        episode_id = r.json()["id"]
        views = []
        for _ in range(500):
            views.append(client.get(f"/api/episodes/{episode_id}").json())
            if views[-1]["outcome"] is not None or views[-1]["error"]:
                break
            time.sleep(0.01)
    assert views[-1]["error"] is None and views[-1]["outcome"]["correct_decision"] == "go"
    unfinished = [v for v in views if not (v["state"] and v["state"]["done"])]
    assert len(unfinished) > 1
    for v in unfinished:
        assert v["outcome"] is None
        assert "correct_decision" not in json.dumps(v) and "decision_correct" not in json.dumps(v)


def test_an_episode_ending_while_its_view_is_read_sends_no_truth_with_an_unfinished_state(tmp_path):
    """view() read the snapshot, then the outcome: an episode ending between the two reads gave a
    not-done state carrying the truth (a CI run hit it). The outcome is read first now."""
    from pathlib import Path

    from drugenv.dashboard.episodes import EpisodeBook, EpisodeRequest

    book = EpisodeBook(step_delay=0.0, max_live=1)
    try:
        ep = book.start(EpisodeRequest(agent="oracle", scenario="kras_pdac_borderline", seed=0))
        ep.thread.join(timeout=60)
        assert not ep.thread.is_alive() and ep.outcome is not None
        unfinished = json.loads(ep.path.read_text(encoding="utf-8"))
    finally:
        book.close()
    unfinished["done"] = False
    outcome = ep.outcome

    class EndsWhileRead(type(Path())):  # the episode ends as the (not yet done) snapshot is read
        def read_text(self, *a, **k):
            ep.outcome = outcome
            return json.dumps(unfinished)

    ep.path, ep.outcome = EndsWhileRead(tmp_path / "snapshot.json"), None
    ep.path.write_text("{}", encoding="utf-8")  # exists; what a read returns is the unfinished snapshot
    v = ep.view()
    assert v.state is not None and not v.state.done and v.outcome is None
    assert ep.view().outcome is not None  # the next read shows the end


def test_bad_episode_requests(client, runs_root):
    assert client.post("/api/episodes", json={"agent": "nobody"}).status_code == 400
    r = client.post("/api/episodes", json={"agent": "hf"})  # it asked for eval's --model flag, which the page lacks
    assert r.status_code == 400 and "checkpoint:PATH" in r.json()["detail"] and "--model" not in r.json()["detail"]
    r = client.post("/api/episodes", json={"agent": "nobody"})  # the page's agents, not eval's flags
    assert "serve:URL" in r.json()["detail"] and "RUN_AGENT_MODEL_ID" in r.json()["detail"]
    assert client.post("/api/episodes", json={"seed": "x"}).status_code == 422
    # Checked before an episode starts (they were accepted, 201, and failed in the episode's view)
    r = client.post("/api/episodes", json={"agent": "heuristic", "scenario": "no_such_scenario"})
    assert r.status_code == 400 and "no_such_scenario" in r.json()["detail"]
    for body in ({"seed": -1}, {"seed": "3"}, {"seed": True}, {"seed": 1.5}, {"difficulty": "brutal"}, {"agent": ""}):
        assert client.post("/api/episodes", json=body).status_code == 422, body
    for agent, why in (("serve:ftp://x", "http(s) address"), ("serve:", "http(s) address"),
                       ("serve:http://[::1", "is not an agent's address")):  # a 201, then UnsupportedProtocol / InvalidURL in the episode
        r = client.post("/api/episodes", json={"agent": agent})
        assert r.status_code == 400 and why in r.json()["detail"], r.text
    # A checkpoint whose metadata is not the JSON object a run writes (a 500 before)
    for name, meta in (("corrupt_ckpt", "{bad"), ("list_ckpt", "[1]")):
        (runs_root / name).mkdir()
        (runs_root / name / "drugenv_checkpoint.json").write_text(meta, encoding="utf-8")
        r = client.post("/api/episodes", json={"agent": f"checkpoint:{runs_root / name}"})
        assert r.status_code == 400 and "drugenv_checkpoint.json" in r.json()["detail"], r.text
    # Bodies FastAPI's own 422 handler answered with a 500 (it echoes the value), and a lone surrogate
    # that the episode list could not send afterwards: 422, the value never echoed
    for body in ('{"seed": NaN}', '{"seed": 1e400}', '{"seed": "\\ud800"}', '{"\\ud800": 1}',
                 '{"agent": "heuristic", "scenario": "\\udfff"}', '{"agent": "serve:http://127.0.0.1:9/\\ud800"}'):
        r = client.post("/api/episodes", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422 and "ud800" not in r.text and "udfff" not in r.text, (body, r.status_code, r.text)
    assert client.get("/api/episodes").status_code == 200
    for run_id in ("a%00b", "x" * 5000):  # a NUL, a name longer than the file system takes: no such run
        assert client.get(f"/api/runs/{run_id}").status_code == 404
    snap = runs_root / "agent" / "_dashboard_state.json"
    snap.parent.mkdir()
    snap.write_text('{"schema_version": 1}', encoding="utf-8")
    v = client.get("/api/episodes/agent/_dashboard_state.json").json()
    assert "not a schema-v1 run-agent snapshot" in v["error"]
    assert client.get("/episodes/agent/_dashboard_state.json").status_code == 200


def test_plotly_is_served_from_the_installed_package(client):
    pytest.importorskip("plotly")
    r = client.get("/vendor/plotly.min.js")
    assert r.status_code == 200 and len(r.content) > 1_000_000


def test_cli_checks_arguments_before_serving(capsys):
    import socket

    with pytest.raises(ConfigError, match="--port must be 1-65535, got 0"):
        dashboard_main(DashboardArgs(port=0))
    with pytest.raises(ConfigError, match="--poll"):
        dashboard_main(DashboardArgs(poll=0))
    # A taken port is the one-line error serve-env gives, before the URL is printed (it was uvicorn's own
    # error line and exit code 3, after the page's address).
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot bind 127.0.0.1:{port}"):
            dashboard_main(DashboardArgs(port=port))
    assert "http://" not in capsys.readouterr().out


def test_a_full_book_refuses_new_episodes_until_one_finishes():
    """max_live bounds the episodes playing at once (it only evicted finished ones, so a flood of
    requests started a thread each); the route answers 503."""
    from drugenv.dashboard.episodes import BookFull, EpisodeBook, EpisodeRequest

    book = EpisodeBook(step_delay=5.0, max_live=2)  # slow steps: both episodes are still playing
    try:
        book.start(EpisodeRequest(agent="heuristic", seed=1))
        book.start(EpisodeRequest(agent="heuristic", seed=2))
        with pytest.raises(BookFull, match="2 episodes are still playing"):
            book.start(EpisodeRequest(agent="heuristic", seed=3))
        assert len(book.live) == 2
    finally:
        book.close()
    book = EpisodeBook(step_delay=0.0, max_live=1)  # ... until one finishes: then the oldest finished one makes room
    try:
        first = book.start(EpisodeRequest(agent="heuristic", seed=1))
        first.thread.join(timeout=60)
        assert not first.thread.is_alive()
        second = book.start(EpisodeRequest(agent="heuristic", seed=2))
        assert list(book.live) == [second.id] and first.id not in book.live
    finally:
        book.close()


def test_the_episodes_route_answers_503_when_the_book_is_full(runs_root):
    app = create_app(runs_root, step_delay_s=5.0, stale_after_s=600)
    with TestClient(app) as c:
        app.state.book.max_live = 1
        assert c.post("/api/episodes", json={"agent": "heuristic", "seed": 1}).status_code == 201
        full = c.post("/api/episodes", json={"agent": "heuristic", "seed": 2})
        assert full.status_code == 503 and "still playing" in full.json()["detail"]


def test_stream_frames_are_strict_json_when_a_run_logged_nan(runs_root):
    # A PPO iteration with no finished episode logs NaN: the HTTP API sent null, the stream sent NaN,
    # which the browser's JSON.parse refuses, so the page stopped updating.
    from drugenv.training.run_files import RunFiles

    run = make_ppo_run(runs_root, "ppo_live", finished=False)
    RunFiles(run).log({"iteration": 6, "env_steps": 1, "train/episode_return_mean": float("nan"), "time_s": 1.0})

    def strict(text):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in a frame"))

    with TestClient(create_app(runs_root, stale_after_s=600, poll_s=0.05)) as c:
        assert strict(c.get("/api/runs/ppo_live").text)["curve"][-1]["train/episode_return_mean"] is None
        with c.stream("GET", "/api/stream/run/ppo_live") as r:
            frame = next(line for line in r.iter_lines() if line.startswith("data:"))
        assert strict(frame[5:])["curve"][-1]["train/episode_return_mean"] is None


@pytest.mark.parametrize("damage", [
    ("metrics.jsonl", '{"iteration": 1, "x": ' + "9" * 5000 + "}\n"),  # over Python's int-from-text limit
    ("metrics.jsonl", "[" * 100_000 + "\n"),  # nesting too deep
    ("metrics.jsonl", '{"iteration": ' + "9" * 301 + ', "heldout/decision_accuracy": 0.5}\n'),  # a path too long
    ("settings.json", "[" * 100_000),
    ("evidence/before_after_metrics.json", "[" * 100_000),
])
def test_one_damaged_file_is_a_problem_line_not_a_500(client, runs_root, damage):
    make_grpo_run(runs_root, "healthy")
    run = make_grpo_run(runs_root, "damaged", finished=False)
    name, text = damage
    with open(run / name, "a" if name == "metrics.jsonl" else "w", encoding="utf-8") as f:
        f.write(text if name != "metrics.jsonl" else "\n" + text)
    assert client.get("/api/runs").status_code == 200
    assert client.get("/api/runs/healthy").status_code == 200
    r = client.get("/api/runs/damaged")
    assert r.status_code == 200 and r.json()["problems"], r.text


@pytest.mark.parametrize("iterations", ["four", 4.5, 10**30, True])
def test_a_settings_value_of_the_wrong_kind_is_a_problem_line_not_a_500(client, runs_root, iterations):
    """Files that parse but hold the wrong kind of value: ``run.iterations`` once went into the page's model
    unchecked, and one such run took the whole runs list down."""
    make_grpo_run(runs_root, "healthy")
    run = make_grpo_run(runs_root, "damaged", finished=False)
    settings = json.loads((run / "settings.json").read_text(encoding="utf-8"))
    settings["run"]["iterations"] = iterations
    (run / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    assert client.get("/api/runs").status_code == 200
    r = client.get("/api/runs/damaged")
    assert r.status_code == 200 and r.json()["iterations_total"] is None
    assert any("run.iterations" in p for p in r.json()["problems"]), r.text


def test_a_resumed_run_counts_its_iterations_after_its_checkpoint(client, runs_root):
    """``--resume`` with ``run.iterations=2`` from iteration 4 ends at 6: the page said "4 / 2"."""
    run = make_grpo_run(runs_root, "resumed", finished=False)
    settings = json.loads((run / "settings.json").read_text(encoding="utf-8"))
    settings["run"]["iterations"], settings["resumed_at_iteration"] = 2, 4
    (run / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    assert client.get("/api/runs/resumed").json()["iterations_total"] == 6
    settings["resumed_at_iteration"] = "four"
    (run / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    r = client.get("/api/runs/resumed").json()
    assert r["iterations_total"] == 2 and any("resumed_at_iteration" in p for p in r["problems"])


def test_a_sweeps_elapsed_time_is_not_dated_by_a_copied_model(client, runs_root):
    """A sweep folder has no settings.json: its start was its oldest modification time, which a base model
    copied in with its times kept put a 6-minute sweep at 20 minutes."""
    out = make_sweep(runs_root)
    (out / "base_model").mkdir()
    (out / "base_model" / "config.json").write_text("{}", encoding="utf-8")
    a_day_ago = time.time() - 86_400
    os.utime(out / "base_model", (a_day_ago, a_day_ago))
    (row,) = client.get("/api/runs").json()["runs"]
    assert row["id"] == "sweeps/reward_weights" and row["elapsed_s"] < 3_600


def test_a_report_value_that_is_no_number_is_left_off_the_reference_lines(client, runs_root):
    run = make_grpo_run(runs_root, "damaged")
    path = run / "evidence" / "before_after_metrics.json"
    report = json.loads(path.read_text(encoding="utf-8"))
    report["heuristic"].update(decision_accuracy="high", brier=10**400, ece=float("nan"))  # NaN: a metric of no episode
    report["oracle"]["decision_accuracy"] = {"x": 1}
    path.write_text(json.dumps(report), encoding="utf-8")
    r = client.get("/api/runs/damaged")
    assert r.status_code == 200, r.text
    refs = r.json()["references"]
    assert not {"decision_accuracy", "brier", "ece"} & set(refs["heuristic"])
    assert refs["heuristic"]["mean_return"] == report["heuristic"]["mean_return"]  # the rest of its line stays
    assert len([p for p in r.json()["problems"] if "not a finite number" in p]) == 3


def test_a_sweep_value_too_large_for_a_float_does_not_take_the_page_down(client, runs_root):
    trial = runs_root / "sweeps" / "huge" / "tune" / "t0"
    trial.mkdir(parents=True)
    (trial / "result.json").write_text('{"trial_id": "t0", "training_iteration": 1, "heldout/decision_accuracy": '
                                       + "9" * 400 + "}\n", encoding="utf-8")
    r = client.get("/api/runs/sweeps/huge")
    assert r.status_code == 200 and r.json()["best_trial_id"] is None, r.text


def test_reference_lines_are_not_played_on_more_episodes_than_a_request_can_wait_for(client, runs_root):
    """While a run trains, the page plays the heuristic and oracle on its held-out episodes inside the request; a
    settings.json asking for a billion held the request for as long as that takes."""
    from drugenv.dashboard.evidence import MAX_REFERENCE_EPISODES

    run = make_grpo_run(runs_root, "huge", finished=False)
    (run / "evidence" / "before_after_metrics.json").unlink()
    settings = json.loads((run / "settings.json").read_text(encoding="utf-8"))
    settings["run"]["eval_episodes"] = 10**9
    (run / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    r = client.get("/api/runs/huge")
    assert r.status_code == 200 and r.json()["references"] == {}
    assert any(f"({MAX_REFERENCE_EPISODES})" in p for p in r.json()["problems"]), r.text


def test_sweep_trial_ids_stay_names_and_damaged_tune_files_are_problems(client, runs_root):
    import csv

    out = make_sweep(runs_root)
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for i, row in enumerate(rows):  # the form of Tune's ids: 5 hex digits, which can all be digits
        row["trial_id"] = f"12345_0000{2 - i}" if i < 2 else "1e234_00000"
    with open(out / "results.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (out / "best_trial.json").write_text(json.dumps({"metric": "heldout/decision_utility", "mode": "max",
                                                     "trial_id": "12345_00002"}), encoding="utf-8")
    d = client.get("/api/runs/sweeps/reward_weights").json()
    assert [t["trial_id"] for t in d["trials"]] == ["12345_00002", "12345_00001", "1e234_00000"]
    assert d["best_trial_id"] == "12345_00002"
    (out / "best_trial.json").unlink()  # the writer has not written it yet: the best is computed
    assert client.get("/api/runs/sweeps/reward_weights").json()["best_trial_id"] == "12345_00002"
    (out / "best_trial.json").write_text(json.dumps({"metric": ["x"], "mode": "max", "trial_id": 7}), encoding="utf-8")
    assert client.get("/api/runs/sweeps/reward_weights").status_code == 200

    running = runs_root / "sweeps" / "running" / "tune"
    for name, content in (("a", b"[1, 2]\n"), ("b", b"3\n"), ("c", b"\xff\xfe\n")):
        (running / name).mkdir(parents=True)
        (running / name / "result.json").write_bytes(content)
    r = client.get("/api/runs/sweeps/running")
    assert r.status_code == 200 and len(r.json()["problems"]) >= 3, r.text

    appending = runs_root / "sweeps" / "appending" / "tune" / "t0"  # Tune is mid-way through its second row
    appending.mkdir(parents=True)
    (appending / "result.json").write_text(json.dumps({"trial_id": "t0", "training_iteration": 1,
                                                       "heldout/decision_utility": 0.5}) + '\n{"trial_id": "t0", "trai', encoding="utf-8")
    d = client.get("/api/runs/sweeps/appending").json()
    assert d["problems"] == [] and [(t["eval_rounds"], t["heldout/decision_utility"]) for t in d["trials"]] == [(1, 0.5)]
    old = time.time() - 3600  # written an hour ago and never finished: a trial that died mid-row, reported
    os.utime(appending / "result.json", (old, old))
    d = client.get("/api/runs/sweeps/appending").json()
    assert len(d["problems"]) == 1 and "last line is not valid JSON" in d["problems"][0]


def test_a_run_named_like_a_placeholder_opens(client, runs_root):
    make_grpo_run(runs_root, "exp__MESSAGE__1")
    page = client.get("/runs/exp__MESSAGE__1").text
    assert 'data-arg="exp__MESSAGE__1"' in page


def test_links_out_of_the_runs_folder_are_neither_listed_nor_served(client, runs_root, tmp_path):
    outside = make_grpo_run(tmp_path / "elsewhere", "linked_target")
    (runs_root / "linked_run").symlink_to(outside, target_is_directory=True)
    make_grpo_run(runs_root, "inside")
    (runs_root / "alias").symlink_to(runs_root / "inside", target_is_directory=True)
    ids = {r["id"] for r in client.get("/api/runs").json()["runs"]}
    assert "linked_run" not in ids and client.get("/api/runs/linked_run").status_code == 404
    assert {"inside", "alias"} <= ids and client.get("/api/runs/alias").status_code == 200


def test_files_linked_out_of_a_run_and_hidden_folders_are_not_served(client, runs_root, tmp_path):
    """A run folder's file that is a link to a file outside the runs folder was served (any file the
    dashboard's user can read, as a run's settings or curve), and a hidden folder was served by its id."""
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "settings.json").write_text('{"secret": "TOPSECRET-settings"}', encoding="utf-8")
    (secret / "metrics.jsonl").write_text('{"iteration": 1, "secret": "TOPSECRET-metrics"}\n', encoding="utf-8")
    run = make_grpo_run(runs_root, "linked_files")
    for name in ("settings.json", "metrics.jsonl"):
        (run / name).unlink()
        (run / name).symlink_to(secret / name)
    r = client.get("/api/runs/linked_files")
    assert r.status_code == 200 and "TOPSECRET" not in r.text
    assert any("link leading out of the runs folder" in p for p in r.json()["problems"])
    make_grpo_run(runs_root, ".hidden")
    make_grpo_run(runs_root / "r1", "nested")
    for run_id in (".hidden", "r1/..%2F.hidden", "r1/../.hidden", "linked_files/checkpoint_000002", "linked_files/evidence"):
        assert client.get(f"/api/runs/{run_id}").status_code == 404, run_id
    assert client.get("/api/runs/r1/nested").status_code == 200  # the control: a nested run is still served


def test_the_form_loads_no_checkpoint_from_outside_the_served_folders(runs_root, tmp_path):
    """Restoring a PPO checkpoint unpickles its module: the form played a checkpoint at any path or address a
    request named, so any process on the host could make the dashboard run code (a pickle that touches a
    file, here). It plays checkpoints from inside --runs and --checkpoint-dir only."""
    import pickle

    mark = tmp_path / "PWNED"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {mark}",))

    def evil_checkpoint(folder):
        folder.mkdir(parents=True)
        (folder / "class_and_ctor_args.pkl").write_bytes(pickle.dumps({"class": Evil(), "ctor_args_and_kwargs": ((), {})}))
        (folder / "module_state.pkl").write_bytes(b"")
        return folder

    outside = evil_checkpoint(tmp_path / "elsewhere" / "ckpt")
    (runs_root / "link_out").symlink_to(outside, target_is_directory=True)
    with TestClient(create_app(runs_root, step_delay_s=0.02, stale_after_s=600)) as c:
        for agent in (f"checkpoint:{outside}", f"checkpoint:file://{outside}", f"checkpoint:{runs_root}/../elsewhere/ckpt",
                      f"checkpoint:{runs_root / 'link_out'}", f"trl:{outside}"):
            r = c.post("/api/episodes", json={"agent": agent})
            detail = r.json()["detail"]
            assert r.status_code == 400 and ("only from inside the folders" in detail or "not from an address" in detail), (agent, r.text)
        assert not mark.exists()
        # Inside the runs folder a damaged PPO checkpoint is a 400 that names it (a 500 before: EOFError)
        damaged = runs_root / "damaged_ckpt"
        damaged.mkdir()
        (damaged / "class_and_ctor_args.pkl").write_bytes(b"")
        (damaged / "module_state.pkl").write_bytes(b"")
        r = c.post("/api/episodes", json={"agent": f"checkpoint:{damaged}"})
        assert r.status_code == 400 and "cannot be restored" in r.json()["detail"], r.text
    with TestClient(create_app(runs_root, step_delay_s=0.02, stale_after_s=600, checkpoint_dirs=[outside.parent])) as c:
        c.post("/api/episodes", json={"agent": f"checkpoint:{outside}"})  # the control: a folder the dashboard was given
    assert mark.exists()


def test_the_form_posts_only_to_the_agent_addresses_it_was_started_with(runs_root):
    """serve:URL made the dashboard post to any address a request named and show part of the answer (a
    proxy into the host's loopback services); only --agent-url addresses are played now."""
    with TestClient(create_app(runs_root, step_delay_s=0.02, stale_after_s=600)) as c:
        r = c.post("/api/episodes", json={"agent": "serve:http://127.0.0.1:9/internal"})
        assert r.status_code == 400 and "--agent-url" in r.json()["detail"]
        assert not any(a.startswith("serve:") for a in c.get("/api/episodes").json()["agents"])
    with TestClient(create_app(runs_root, step_delay_s=0.02, stale_after_s=600,
                               agent_urls=["http://127.0.0.1:9/"])) as c:
        assert "serve:http://127.0.0.1:9" in c.get("/api/episodes").json()["agents"]
        assert c.post("/api/episodes", json={"agent": "serve:http://127.0.0.1:9"}).status_code == 201
        assert c.post("/api/episodes", json={"agent": "serve:http://127.0.0.1:10"}).status_code == 400
    with pytest.raises(ConfigError, match="http"):
        create_app(runs_root, agent_urls=["ftp://x"])


def test_a_dashboard_bound_to_loopback_answers_to_loopback_names_only(runs_root):
    """A page whose own name a DNS server points at 127.0.0.1 (DNS rebinding) could read the runs and start
    episodes: the browser sends that name as the Host. drugenv dashboard on loopback answers to loopback names."""
    from drugenv.server.hosts import LOOPBACK_NAMES, is_loopback

    assert all(map(is_loopback, ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2")))
    assert not any(map(is_loopback, ("::", "10.0.0.1", "example.org", "")))
    with TestClient(create_app(runs_root, allowed_hosts=LOOPBACK_NAMES)) as c:
        for host in ("127.0.0.1:8050", "localhost:8050", "[::1]:8050", "LOCALHOST"):
            assert c.get("/api/runs", headers={"host": host}).status_code == 200, host
        for host in ("rebound.example:8050", "testserver", ""):
            r = c.get("/api/runs", headers={"host": host})
            assert r.status_code == 421 and "runs" not in r.json(), host
            assert c.post("/api/episodes", json={"agent": "heuristic"}, headers={"host": host}).status_code == 421


def test_an_evicted_episode_leaves_no_folder_behind():
    """The book forgot an evicted episode but kept its folder: the temporary directory grew ~5 KB an episode
    for as long as the dashboard ran."""
    from drugenv.dashboard.episodes import EpisodeBook, EpisodeRequest

    book = EpisodeBook(step_delay=0.0, max_live=1)
    try:
        for seed in range(3):
            ep = book.start(EpisodeRequest(agent="heuristic", seed=seed))
            ep.thread.join(timeout=60)
        assert [p.name for p in Path(book._tmp.name).iterdir()] == [ep.id]
    finally:
        book.close()


def test_concurrent_starts_never_exceed_max_live(monkeypatch):
    # The count was checked, then the (slow) policy built, then the episode added: 4 starts at once
    # with max_live 2 gave 4 live episodes.
    import threading

    from drugenv.dashboard import episodes as ep
    from drugenv.dashboard.episodes import BookFull, EpisodeBook, EpisodeRequest

    real = ep.make_policy
    monkeypatch.setattr(ep, "make_policy", lambda agent, access=None: (time.sleep(0.3), real(agent, access))[1])
    book = EpisodeBook(step_delay=5.0, max_live=2)
    results, barrier = [], threading.Barrier(4)

    def start():
        barrier.wait()
        try:
            results.append(book.start(EpisodeRequest(agent="random", seed=0)).id)
        except BookFull:
            results.append("full")

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len(book.live) == 2 and sorted(results).count("full") == 2
    finally:
        book.close()


def test_a_short_results_row_and_a_link_loop_are_pages_not_500s(client, runs_root):
    out = make_sweep(runs_root)
    header = (out / "results.csv").read_text(encoding="utf-8").splitlines()[0]
    (out / "results.csv").write_text(header + "\nt_short\n", encoding="utf-8")  # a row with fewer cells than the header
    r = client.get("/api/runs/sweeps/reward_weights")
    assert r.status_code == 200 and r.json()["trials"][0]["trial_id"] == "t_short", r.text
    (runs_root / "loop").symlink_to(runs_root / "loop")  # Path.resolve raises RuntimeError on it before Python 3.13
    assert client.get("/api/runs/loop").status_code == 404
    assert client.get("/api/runs").status_code == 200


def test_every_chart_series_is_a_column_a_committed_run_wrote():
    """Each series names a ``metrics.jsonl`` column; one key that no run writes draws nothing and says
    nothing (the rollout report rate was read as ``report_rate`` while GRPO writes ``env/report_rate``)."""
    from pathlib import Path

    from drugenv.dashboard.runs import CURVE_PANELS

    results = Path(__file__).resolve().parents[2] / "docs" / "results"
    written: set[str] = set()
    for name in ("grpo_tiny_cpu.json", "ppo_vector.json"):
        run = json.loads((results / name).read_text(encoding="utf-8"))
        curve = run.get("_curve") or run["curve"]
        written.update(k for row in curve for k in row)
    series = {key for panel in CURVE_PANELS for key, _ in panel["series"]}
    assert series - written == set()
