"""The dashboard for everyone: WCAG 2.1 AA by axe-core on every page, keyboard use, reflow, announcements.

axe-core (bundled by ``axe-playwright-python``, nothing fetched) checks each page in each state a reader
meets it in; the rest are what axe cannot see: focus kept across live redraws, the chart toolbar shown to
the keyboard, pages that reflow at 320 px, titles and live announcements, series told apart without colour.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.dashboard.conftest import make_grpo_run, make_ppo_run, make_sweep, metrics_row

TIMEOUT_MS = 15_000
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def axe_violations(page: Any) -> list[str]:
    """axe-core's violations of WCAG 2.1 A/AA and its best practices on the page as it is now."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright").Axe()
    results = axe.run(page, options={"runOnly": {"type": "tag", "values": WCAG_AA}, "resultTypes": ["violations"]})
    return [f"{v['id']} ({v['impact']}): " + ", ".join(" ".join(n["target"]) for n in v["nodes"][:4])
            for v in results.response["violations"]]


def unexpected_errors(page: Any) -> list[str]:
    """The page's console errors but the browser's own line for a 4xx these tests ask for (an unknown run, a
    refused agent)."""
    return [e for e in page.errors if not e.startswith("Failed to load resource: the server responded with a status of 4")]


def charts_drawn(page: Any) -> None:
    page.wait_for_function("() => Array.from(document.querySelectorAll('.chart')).every(c => c.data)", timeout=TIMEOUT_MS)


def open_finished_run(page: Any, runs_root: Any, serve_dashboard: Any) -> Any:
    """A finished GRPO run's page, its charts drawn; the run's folder."""
    run = make_grpo_run(runs_root)
    page.goto(serve_dashboard(runs_root) + "/runs/grpo_tiny_cpu")
    page.wait_for_selector("#before-after table", timeout=TIMEOUT_MS)
    charts_drawn(page)
    return run


def test_every_page_and_state_passes_axe(page, runs_root, serve_dashboard):
    base = serve_dashboard(runs_root, step_delay_s=0.3)
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        found[name] = axe_violations(page)

    page.goto(base + "/")
    page.wait_for_selector("#empty", timeout=TIMEOUT_MS)
    check("runs, none yet")
    make_grpo_run(runs_root)
    make_grpo_run(runs_root, "grpo_live", finished=False)
    make_ppo_run(runs_root)
    make_sweep(runs_root)
    corrupt = make_grpo_run(runs_root, "corrupt", finished=False)
    with open(corrupt / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write("{not json\n")
    page.wait_for_selector("a.run-link >> text=sweeps/reward_weights", timeout=TIMEOUT_MS)
    check("runs list")
    for run, ready in (("grpo_live", "#run-header"), ("grpo_tiny_cpu", "#before-after table"), ("ppo_vector", "#before-after"),
                       ("corrupt", "#problems")):
        page.goto(f"{base}/runs/{run}")
        page.wait_for_selector(ready, timeout=TIMEOUT_MS)
        charts_drawn(page)
        check(f"run {run}")
    page.goto(base + "/runs/sweeps/reward_weights")
    page.wait_for_selector("tr.best", timeout=TIMEOUT_MS)
    charts_drawn(page)
    check("sweep")
    page.goto(base + "/runs/no_such_run")
    check("unknown run")
    page.goto(base + "/episodes")
    page.wait_for_selector("#play", timeout=TIMEOUT_MS)
    check("episode picker")
    page.select_option("#agent", "checkpoint:PATH")
    page.fill("#agent-spec", "checkpoint:/etc/passwd")
    page.click("button[type=submit]")
    page.wait_for_function("() => document.getElementById('form-error').textContent.length > 0", timeout=TIMEOUT_MS)
    check("episode picker, refused entry")
    page.select_option("#agent", "heuristic")
    page.select_option("#scenario", "cd33_aml_misleading")
    page.click("button[type=submit]")
    page.wait_for_selector("#steps tbody tr", timeout=TIMEOUT_MS)
    check("episode playing")
    page.wait_for_function("() => document.getElementById('truth')?.textContent.includes('correct decision')", timeout=60_000)
    check("episode ended")
    assert {name: v for name, v in found.items() if v} == {}
    assert unexpected_errors(page) == []


def test_keyboard_focus_survives_live_updates(page, runs_root, serve_dashboard):
    run = make_grpo_run(runs_root, "grpo_live", finished=False)
    make_grpo_run(runs_root)
    page.goto(serve_dashboard(runs_root) + "/")
    page.wait_for_selector("a.run-link >> text=grpo_live", timeout=TIMEOUT_MS)
    page.focus("a.run-link >> text=grpo_live")
    updates = page.evaluate("() => Number(document.body.dataset.updates || 0)")
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(metrics_row(5, heldout=False)) + "\n")
    page.wait_for_function(f"() => Number(document.body.dataset.updates || 0) > {updates}", timeout=TIMEOUT_MS)
    assert page.evaluate("() => [document.activeElement.tagName, document.activeElement.textContent]") == ["A", "grpo_live"]
    assert page.errors == []


def test_chart_toolbar_is_short_and_shown_to_the_keyboard(page, runs_root, serve_dashboard):
    open_finished_run(page, runs_root, serve_dashboard)
    buttons = page.locator("#chart-return .modebar-btn")
    assert buttons.count() <= 2  # save as PNG, reset the zoom: not ten tab stops a chart
    buttons.first.focus()
    # Plotly shows the toolbar under the mouse, and to the keyboard when a button has focus (after a fade)
    page.wait_for_function("() => getComputedStyle(document.activeElement.closest('.modebar-group')).opacity === '1'",
                           timeout=TIMEOUT_MS)
    assert page.errors == []


def test_charts_have_words_and_numbers(page, runs_root, serve_dashboard):
    run = open_finished_run(page, runs_root, serve_dashboard)
    last = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()][-1]
    value = last["env/episode_return_mean"]
    shown = str(int(value)) if float(value).is_integer() else f"{value:.3f}"  # as the page writes numbers (fmt)
    label = page.get_attribute("#chart-return", "aria-label")
    assert page.get_attribute("#chart-return", "role") == "figure"
    assert label.startswith("Chart: Episode return.") and f"rollout return {shown} at iteration {last['iteration']}" in label, label
    # the drawing itself is hidden from screen readers (they read its tick labels); its numbers are in a table
    assert page.locator("#chart-return svg.main-svg:not([aria-hidden=true])").count() == 0
    table = page.text_content("#curve-table")  # inside a closed <details>
    assert page.locator("#curve-table tbody tr").count() == last["iteration"] and shown in table
    assert page.errors == []


def test_series_are_told_apart_without_colour(page, runs_root, serve_dashboard):
    open_finished_run(page, runs_root, serve_dashboard)
    looks = page.evaluate("""() => Array.from(document.querySelectorAll('.chart')).map(c => c.data.map(t => ({
        meta: t.meta, color: t.line && t.line.color, dash: t.line && t.line.dash, symbol: t.marker && t.marker.symbol })))""")
    references: dict[str, set[tuple[Any, Any]]] = {}
    for traces in looks:
        refs = [t for t in traces if str(t["meta"]).startswith("reference/")]
        series = [t for t in traces if not str(t["meta"]).startswith("reference/")]
        assert len({t["dash"] for t in refs}) == len(refs), refs  # each reference line its own dash
        assert len({t["symbol"] for t in series}) == len(series), series  # each series its own marker
        for t in refs:
            references.setdefault(t["meta"], set()).add((t["color"], t["dash"]))
    assert references and all(len(v) == 1 for v in references.values()), references  # one look on every chart
    assert page.errors == []


@pytest.mark.parametrize("width", [320, 640])
def test_pages_reflow_to_a_narrow_window(browser, runs_root, serve_dashboard, width):
    make_grpo_run(runs_root)
    base = serve_dashboard(runs_root, step_delay_s=0.0)
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        for path, ready in (("/", "a.run-link"), ("/runs/grpo_tiny_cpu", "#before-after table"), ("/episodes", "#play")):
            page.goto(base + path)
            page.wait_for_selector(ready, timeout=TIMEOUT_MS)
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width, path
        page.select_option("#agent", "heuristic")
        page.click("button[type=submit]")
        page.wait_for_function("() => document.getElementById('truth')?.textContent.includes('correct decision')",
                               timeout=60_000)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width
        for card in ("#decision", "#truth"):  # the verdict is reached by scrolling down, not sideways past the steps
            assert page.evaluate(f"() => document.querySelector('{card}').getBoundingClientRect().right") <= width
    finally:
        context.close()


def test_titles_and_announcements(page, runs_root, serve_dashboard, tmp_path):
    run = make_grpo_run(runs_root, "grpo_live", finished=False)
    base = serve_dashboard(runs_root, step_delay_s=0.0)
    titles = {}
    for path, ready in (("/", "a.run-link"), ("/runs/grpo_live", "#run-header h1"), ("/episodes", "#play")):
        page.goto(base + path)
        page.wait_for_selector(ready, timeout=TIMEOUT_MS)
        titles[path] = page.title()
    page.goto(base + "/runs/nope")
    titles["missing"] = page.title()
    assert len(set(titles.values())) == len(titles), titles
    assert titles["/runs/grpo_live"].startswith("grpo_live")
    assert page.locator("main h1").count() == 1  # a page that is not found still has a heading
    assert page.get_attribute("#live", "role") == "status"

    page.goto(base + "/runs/grpo_live")
    page.wait_for_selector("#status >> text=running", timeout=TIMEOUT_MS)
    finished = make_grpo_run(tmp_path, "grpo_live")  # the run finishes: its report is written
    report = "evidence/before_after_metrics.json"
    (run / report).write_text((finished / report).read_text(encoding="utf-8"), encoding="utf-8")
    page.wait_for_selector("#status >> text=finished", timeout=TIMEOUT_MS)
    assert page.inner_text("#announce") == "Run grpo_live finished."

    page.goto(base + "/episodes")
    page.wait_for_selector("#play", timeout=TIMEOUT_MS)
    assert page.is_disabled("#agent-spec")  # the path field is for the agents that take one
    page.select_option("#agent", "checkpoint:PATH")
    assert not page.is_disabled("#agent-spec")
    page.fill("#agent-spec", "checkpoint:/etc/passwd")
    page.click("button[type=submit]")
    page.wait_for_function("() => document.getElementById('form-error').textContent.length > 0", timeout=TIMEOUT_MS)
    assert page.get_attribute("#form-error", "role") == "alert"
    assert "form-error" in page.get_attribute("#agent-spec", "aria-describedby")
    page.select_option("#agent", "heuristic")
    page.click("button[type=submit]")
    page.wait_for_function("() => document.getElementById('announce').textContent.startsWith('Episode ended')",
                           timeout=60_000)
    assert "Final decision" in page.inner_text("#announce")
    assert unexpected_errors(page) == []
