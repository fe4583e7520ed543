"""The dashboard in headless Chromium: what a person sees, live, with no console errors.

Set ``DRUGENV_SCREENSHOTS=docs/images`` to save the README's screenshots while these run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from drugenv.agents.baselines import HeuristicPolicy
from drugenv.llm.run_agent import run_agent_episodes
from drugenv.simulator.environment import DrugTargetEnvironment
from tests.dashboard.conftest import make_grpo_run, make_sweep, metrics_row

TIMEOUT_MS = 15_000


def shot(page: Any, name: str) -> None:
    folder = os.environ.get("DRUGENV_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"dashboard_{name}.png"), full_page=True)


def trace(page: Any, chart: str, meta: str) -> dict[str, Any]:
    """The plotted trace whose ``meta`` is ``meta`` (the metrics.jsonl key it draws)."""
    data = page.evaluate(f"() => document.getElementById('{chart}').data.map(t => ({{meta: t.meta, x: Array.from(t.x), y: Array.from(t.y)}}))")
    return next(t for t in data if t["meta"] == meta)


def test_runs_list_empty_then_live(page, runs_root, serve_dashboard):
    base = serve_dashboard(runs_root)
    page.goto(base + "/")
    page.wait_for_selector("#empty", timeout=TIMEOUT_MS)
    assert "bash scripts/main.sh" in page.inner_text("#empty")
    shot(page, "empty")
    make_grpo_run(runs_root)
    make_grpo_run(runs_root, "grpo_live", finished=False)
    make_sweep(runs_root)
    page.wait_for_selector("a.run-link >> text=grpo_live", timeout=TIMEOUT_MS)  # no reload: the runs stream
    page.wait_for_selector("a.run-link >> text=sweeps/reward_weights", timeout=TIMEOUT_MS)  # written last
    text = page.inner_text("table")
    assert "grpo_tiny_cpu" in text and "sweeps/reward_weights" in text and "finished" in text and "running" in text
    shot(page, "runs")
    assert page.errors == []


def test_curve_equals_metrics_jsonl_and_follows_appends(page, runs_root, serve_dashboard):
    run = make_grpo_run(runs_root, "grpo_live", finished=False)
    base = serve_dashboard(runs_root)
    page.goto(base + "/runs/grpo_live")
    page.wait_for_function("() => document.getElementById('chart-return')?.data", timeout=TIMEOUT_MS)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    for chart, key in (("chart-return", "env/episode_return_mean"), ("chart-decisions", "heldout/decision_accuracy"),
                       ("chart-time", "timers/rollout"), ("chart-credits", "heldout/credits_used")):
        t = trace(page, chart, key)
        expect = [(r["iteration"], r[key]) for r in rows if r.get(key) is not None]
        assert list(zip(t["x"], t["y"])) == expect, key
    page.wait_for_function("() => document.getElementById('chart-return').data.some(t => t.meta === 'reference/heuristic')",
                           timeout=TIMEOUT_MS)
    page.evaluate("() => { window.notReloaded = true; }")
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(metrics_row(5, heldout=False)) + "\n")
    page.wait_for_function("() => document.getElementById('iteration').textContent === '5'", timeout=TIMEOUT_MS)
    t = trace(page, "chart-return", "env/episode_return_mean")
    assert t["x"][-1] == 5 and t["y"][-1] == metrics_row(5, heldout=False)["env/episode_return_mean"]
    assert page.evaluate("() => window.notReloaded") is True
    assert page.inner_text("#status") == "running"
    shot(page, "run_live")
    assert page.errors == []


def test_finished_run_checkpoints_and_before_after(page, runs_root, serve_dashboard):
    make_grpo_run(runs_root)
    base = serve_dashboard(runs_root)
    page.goto(base + "/runs/grpo_tiny_cpu")
    page.wait_for_selector("#before-after table", timeout=TIMEOUT_MS)
    card = page.inner_text("#before-after")
    for label in ("untrained", "after SFT", "after RL", "heuristic", "oracle", "Δ RL − untrained"):
        assert label in card
    checkpoints = page.inner_text("#checkpoints")
    assert "checkpoint_iter_0002" in checkpoints and "checkpoint_iter_0004" in checkpoints and "after SFT" in checkpoints
    assert trace(page, "chart-checkpoints", "mean_return")["x"] == [0, 2, 4]
    assert page.inner_text("#status") == "finished"
    shot(page, "run")
    assert page.errors == []


def test_sweep_trials_and_best(page, runs_root, serve_dashboard):
    make_sweep(runs_root)
    base = serve_dashboard(runs_root)
    page.goto(base + "/runs/sweeps/reward_weights")
    page.wait_for_selector("tr.best", timeout=TIMEOUT_MS)
    assert page.inner_text("#best-trial") == "t2"
    assert page.locator("tbody tr").count() == 3
    page.wait_for_function("() => document.getElementById('chart-param-0')?.data", timeout=TIMEOUT_MS)
    best = page.evaluate("() => document.getElementById('chart-param-0').data.find(t => t.name === 'best trial')")
    assert list(best["x"]) == [0.7] and list(best["y"]) == [0.2]
    shot(page, "sweep")
    assert page.errors == []


def test_sweep_names_are_text_in_the_charts(page, runs_root, serve_dashboard):
    # Plotly reads a subset of HTML in titles and hover text: a column named with markup restyled the title.
    import csv

    out = make_sweep(runs_root)
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    old, new = "config.env_config.reward.novelty_weight", 'config.<b style="font-size:90px">HUGE</b>'
    rows = [{(new if k == old else k): v for k, v in r.items()} for r in rows]
    with open(out / "results.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    page.goto(serve_dashboard(runs_root) + "/runs/sweeps/reward_weights")
    page.wait_for_selector("#chart-param-0 .gtitle", timeout=TIMEOUT_MS)
    assert page.text_content("#chart-param-0 .gtitle") == '<b style="font-size:90px">HUGE</b>'
    assert page.locator("#chart-param-0 .gtitle tspan[style*='font-size:90px']").count() == 0
    assert page.errors == []


def test_episode_steps_and_truth_only_at_end(page, runs_root, serve_dashboard):
    env = DrugTargetEnvironment()
    policy, obs = HeuristicPolicy(), env.reset(seed=3, scenario="cd33_aml_misleading")
    policy.reset(1, [3])
    expected = []
    while not obs.done:
        action = policy.act([obs])[0]
        expected.append(action.action_type.value)
        obs = env.step(action)
    truth = env.outcome().correct_decision

    base = serve_dashboard(runs_root, step_delay_s=0.25)
    page.goto(base + "/episodes")
    page.wait_for_selector("#play", timeout=TIMEOUT_MS)
    shot(page, "episodes")
    page.select_option("#agent", "heuristic")
    page.select_option("#scenario", "cd33_aml_misleading")
    page.fill("#seed", "3")
    page.click("button[type=submit]")
    page.wait_for_url("**/episodes/live-1", timeout=TIMEOUT_MS)
    seen = []
    while True:
        page.wait_for_timeout(100)
        state = page.evaluate("() => [document.getElementById('episode-status')?.textContent, "
                              "document.getElementById('truth')?.textContent, document.querySelectorAll('#steps tbody tr').length]")
        seen.append(state)
        if state[0] == "episode ended" and "correct decision" in (state[1] or ""):
            break
        assert len(seen) < 300, seen[-3:]
    playing = [s for s in seen if s[0] == "playing…"]
    assert playing and all(s[1] == "Truth hidden until the episode ends." for s in playing)
    assert len({s[2] for s in playing}) > 1  # the steps arrived one by one
    cells = page.eval_on_selector_all("#steps tbody tr td:nth-child(2)", "tds => tds.map(td => td.textContent)")
    assert cells == expected
    assert f"correct decision {truth}" in page.inner_text("#truth")
    assert page.inner_text("#decision") != "Final decision: no report yet"
    shot(page, "episode")
    assert page.errors == []


def test_run_agent_snapshot(page, runs_root, serve_dashboard):
    path = runs_root / "agent" / "_dashboard_state.json"
    run_agent_episodes(HeuristicPolicy(), seed=1, scenario="egfr_nsclc_viable", dashboard_path=path,
                       model_id="heuristic", echo=False)
    steps = json.loads(path.read_text(encoding="utf-8"))["steps"]
    base = serve_dashboard(runs_root)
    page.goto(base + "/episodes/agent/_dashboard_state.json")
    page.wait_for_selector("#steps", timeout=TIMEOUT_MS)
    assert page.locator("#steps tbody tr").count() == len(steps)
    assert "does not record it" in page.inner_text("#truth")
    assert page.errors == []


def test_bad_input_shows_a_message(page, runs_root, serve_dashboard):
    run = make_grpo_run(runs_root, "corrupt", finished=False)
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write("{not json\n")
    (runs_root / "half").mkdir()
    (runs_root / "half" / "evidence").mkdir()
    base = serve_dashboard(runs_root)
    page.goto(base + "/runs/corrupt")
    page.wait_for_selector("#problems", timeout=TIMEOUT_MS)
    assert "line 5: not valid JSON" in page.inner_text("#problems")
    assert len(trace(page, "chart-return", "env/episode_return_mean")["x"]) == 4  # the good lines still draw
    shot(page, "bad_input")
    page.goto(base + "/runs/half")
    page.wait_for_selector("#problems", timeout=TIMEOUT_MS)
    assert "metrics.jsonl is missing" in page.inner_text("#problems")
    assert page.errors == []
    response = page.goto(base + "/runs/no_such_run")
    assert response.status == 404
    assert "Unknown run 'no_such_run'" in page.inner_text("main") and "corrupt" in page.inner_text("main")
