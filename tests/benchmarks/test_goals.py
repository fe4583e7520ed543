"""`benchmarks/goals.py` (issue 14's scoreboard) and `benchmarks/records.py` (the record every benchmark writes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmark_scripts import load

ROOT = Path(__file__).resolve().parents[2]

goals, records = load("goals"), load("records")


def _env_record(core=12_000.0, cartpole=100_000.0, text=6_000.0, same_text=10_000.0, vector=9_000.0,
                same_vector=10_000.0, resets=6_000.0):
    return {"benchmark": "bench_env", "file": "env.json", "measured_at": "2026-11-30T22:00:00+00:00", "commit": "abc1234",
            "host": {"cores": 2, "cpu": "test cpu", "python": "3.11"}, "load_average": {"before": 0.1, "after": 0.2},
            "config": {"steps": 20000}, "results": {
                "steps_per_s": {"core_random_policy": core, "core_prebuilt": core * 1.3, "cartpole": cartpole, "text": text,
                                "core_same_actions_as_text": same_text, "vector": vector,
                                "core_same_actions_as_vector": same_vector},
                "procedural_resets_per_s": resets}}


def _server_record(clients, workers, ratio, p99):
    side = {"steps": 100, "steps_per_s": 3000.0 * ratio, "p50_ms": 1.0, "p99_ms": p99}
    return {"benchmark": "bench_server", "file": f"server_{clients}_{workers}.json",
            "measured_at": "2026-11-30T22:00:00+00:00", "commit": "abc1234",
            "host": {"cores": 2, "cpu": "test cpu", "python": "3.11"}, "load_average": {"before": 0.1, "after": 0.2},
            "config": {"clients": clients, "workers": workers, "servers": "both", "memory_sessions": 0},
            "results": {"drugenv": side, "reference": {**side, "steps_per_s": 3000.0, "p99_ms": 20.0},
                        "ratio": {"steps_per_s": ratio}}}


def _row(board: str, what: str) -> list[str]:
    line = next(line for line in board.splitlines() if line.startswith(f"| {what} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_each_goal_is_judged_against_its_target():
    board = goals.scoreboard([_env_record(core=21_000, text=5_000, same_text=10_000, vector=8_500, same_vector=10_000,
                                          resets=4_000),
                              _server_record(32, 2, ratio=3.2, p99=12.0), _server_record(128, 2, ratio=2.5, p99=30.0)])
    core = _row(board, "core simulator, random agent (procedural scenarios, resets included)")
    assert core[2].startswith("21,000 steps/s") and core[3] == "yes" and core[4] == "`env.json`"
    assert _row(board, "core simulator / CartPole-v1, same process")[3] == "**no**"  # 0.21 < 0.35
    assert _row(board, "DrugEnv/Text-v0 / core on the same actions")[2:4] == ["0.500 (5,000 vs 10,000 steps/s)", "**no**"]
    assert _row(board, "DrugEnv/Vector-v0 / core on the same actions")[3] == "yes"
    assert _row(board, "procedural resets")[2:4] == ["4,000 /s", "**no**"]
    assert _row(board, "server throughput / OpenEnv reference, 32 sessions, 2 workers")[3] == "yes"
    assert _row(board, "server throughput / OpenEnv reference, 128 sessions, 2 workers")[3] == "**no**"
    assert _row(board, "p99 step latency, 32 sessions, 2 workers")[2:4] == ["12.0 ms (reference 20.0 ms)", "**no**"]
    # A configuration nobody measured says so instead of borrowing another one's numbers.
    assert _row(board, "server throughput / OpenEnv reference, 32 sessions, 1 worker")[2] == "not measured"
    assert _row(board, "PPO iteration on the vector env (`num_envs_per_env_runner`)")[2] == "not measured"
    # Every record a goal used is listed with its load average and commit.
    assert "| `env.json` | 2026-11-30 22:00 UTC | abc1234 | 0.10 / 0.20 | 2 cores, test cpu, Python 3.11 |" in board


def test_a_ratio_of_several_passes_is_the_median_of_their_ratios():
    # Three passes on a drifting box: the text env's ratio per pass is 0.5, 0.62, 0.64 (median 0.62),
    # while the ratio of the median rates would be 6,000 / 10,000 = 0.60.
    passes = [{"text": 5_000.0, "core_same_actions_as_text": 10_000.0},
              {"text": 6_200.0, "core_same_actions_as_text": 10_000.0},
              {"text": 6_400.0, "core_same_actions_as_text": 10_000.0}]
    rec = _env_record(text=6_000, same_text=10_000)
    rec["results"]["passes"] = [{**rec["results"]["steps_per_s"], **p} for p in passes]
    assert records.pass_ratio(rec["results"], "text", "core_same_actions_as_text") == pytest.approx(0.62)
    row = _row(goals.scoreboard([rec]), "DrugEnv/Text-v0 / core on the same actions")
    assert row[2:4] == ["0.620 (6,000 vs 10,000 steps/s) · median of 3 passes", "yes"]


def test_a_server_row_shows_the_spread_of_its_alternating_pairs():
    rec = _server_record(32, 2, ratio=3.1, p99=9.0)
    rec["results"]["runs"] = {
        "drugenv": [{"steps_per_s": 6_000.0, "p99_ms": 8.0}, {"steps_per_s": 7_500.0, "p99_ms": 12.5}],
        "reference": [{"steps_per_s": 2_400.0, "p99_ms": 20.0}, {"steps_per_s": 2_000.0, "p99_ms": 18.0}]}
    board = goals.scoreboard([rec])
    assert _row(board, "server throughput / OpenEnv reference, 32 sessions, 2 workers")[2].endswith("· pairs x2.50-3.75")
    assert _row(board, "p99 step latency, 32 sessions, 2 workers")[2] == "9.0 ms (reference 20.0 ms) · runs 8.0-12.5 ms"


def test_a_ratio_just_under_its_goal_is_not_met_for_rounding_to_it():
    """The record's ratio is rounded to two decimals: 3,488.4 / 1,164.7 = 2.9951 was stored as 3.0 and met x3."""
    rec = _server_record(32, 2, ratio=3.0, p99=9.0)
    rec["results"]["drugenv"]["steps_per_s"], rec["results"]["reference"]["steps_per_s"] = 3488.4, 1164.7
    row = _row(goals.scoreboard([rec]), "server throughput / OpenEnv reference, 32 sessions, 2 workers")
    assert row[2].startswith("x2.995 ") and row[3] == "**no**"


def test_the_latest_record_of_a_configuration_wins():
    board = goals.scoreboard([_server_record(32, 2, ratio=2.0, p99=9.0), _server_record(32, 2, ratio=3.5, p99=9.0)])
    assert _row(board, "server throughput / OpenEnv reference, 32 sessions, 2 workers")[2].startswith("x3.500")


def test_the_committed_page_shows_the_committed_records():
    page = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    assert goals.BEGIN in page and goals.END in page
    block = page.split(goals.BEGIN + "\n", 1)[1].split("\n" + goals.END, 1)[0]
    assert block == goals.scoreboard(goals.load_records()), "regenerate: python benchmarks/goals.py --write docs/performance.md"


def test_rewrite_replaces_only_the_block(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"intro\n{goals.BEGIN}\nold\n{goals.END}\noutro\n", encoding="utf-8")
    assert goals.rewrite(page, "new") is True
    assert page.read_text(encoding="utf-8") == f"intro\n{goals.BEGIN}\nnew\n{goals.END}\noutro\n"
    assert goals.rewrite(page, "new") is False
    (tmp_path / "bare.md").write_text("no block here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no generated block"):
        goals.rewrite(tmp_path / "bare.md", "new")


def test_a_record_carries_its_context_and_no_machine_paths(tmp_path):
    out = tmp_path / "sub" / "r.json"
    rec = records.write_record(str(out), "bench_x", {"config": str(ROOT / "rllib_configs" / "ppo_vector.py"), "n": 3},
                               {"value": 1.5}, 0.5, 0.75)
    assert json.loads(out.read_text(encoding="utf-8")) == rec
    assert rec["config"] == {"config": "rllib_configs/ppo_vector.py", "n": 3}
    assert rec["results"] == {"value": 1.5} and rec["load_average"] == {"before": 0.5, "after": 0.75}
    assert rec["host"]["cores"] >= 1 and rec["host"]["python"] and rec["measured_at"].endswith("+00:00")
    assert rec["commit"] is None or len(rec["commit"].split("+")[0]) >= 7


def test_a_goal_writes_its_target_from_the_one_number_it_is_judged_by():
    by_what = {g.what: g for g in goals.GOALS}
    core = by_what["core simulator, random agent (procedural scenarios, resets included)"]
    p99 = by_what["p99 step latency, 32 sessions, 2 workers"]
    x3 = by_what["server throughput / OpenEnv reference, 128 sessions, 2 workers"]
    assert (core.target, p99.target, x3.target) == ("≥ 20,000 steps/s", "≤ 10 ms", "≥ x3")
    assert core.met(20_000) and not core.met(19_999.9)
    assert p99.met(10.0) and not p99.met(10.01)  # a latency meets its goal at or below it
    assert by_what["server memory, sessions open mid-episode"].met(1e9) is None  # reported, no target


def test_progress_is_measured_over_target_and_target_over_measured_for_a_latency():
    serve_app = _server_record(32, 1, ratio=0.4, p99=50.0)
    serve_app["config"]["serve_replicas"] = 1  # a reported row, measured: read, but not drawn
    board = [_env_record(core=10_000, cartpole=100_000), _server_record(32, 2, ratio=4.5, p99=12.5), serve_app]
    assert "x0.400" in _row(goals.scoreboard(board), "Ray Serve env app / OpenEnv reference, 32 sessions, 1 replica")[2]
    rows = {goal.what: (value, progress) for goal, value, progress in goals.progress_rows(board)}
    assert rows["core simulator, random agent (procedural scenarios, resets included)"] == (10_000, 0.5)
    assert rows["server throughput / OpenEnv reference, 32 sessions, 2 workers"] == pytest.approx((4.5, 1.5))
    assert rows["p99 step latency, 32 sessions, 2 workers"] == pytest.approx((12.5, 0.8))
    # Rows nobody measured, and rows without a target, are not drawn.
    assert "server throughput / OpenEnv reference, 32 sessions, 1 worker" not in rows
    assert not any(what.startswith("Ray Serve") for what in rows)


def test_the_figure_draws_one_bar_per_goal_met_bars_apart():
    import matplotlib.pyplot as plt

    board = [_env_record(core=10_000, cartpole=100_000), _server_record(32, 2, ratio=4.5, p99=12.5)]
    fig = goals.figure(board)
    try:
        bars = fig.axes[0].patches
        rows = goals.progress_rows(board)
        assert len(bars) == len(rows)
        assert [b.get_width() for b in bars] == pytest.approx([p for _, _, p in rows])
        from matplotlib.colors import to_rgba

        verdicts = [goal.met(value) for goal, value, _ in rows]
        assert True in verdicts and False in verdicts
        assert [tuple(b.get_facecolor()) for b in bars] == [
            to_rgba(goals.MET_COLOR if met else goals.UNMET_COLOR) for met in verdicts]
    finally:
        plt.close(fig)


def test_the_committed_figure_draws_the_committed_records():
    from PIL import Image

    with Image.open(ROOT / "docs" / "images" / "performance_goals.png") as image:
        drawn = image.text.get("Description")
    assert drawn == goals.figure_data(goals.load_records()), \
        "redraw: python benchmarks/goals.py --plot docs/images/performance_goals.png"


def test_no_measured_goal_is_a_clear_error_not_an_empty_figure():
    with pytest.raises(ValueError, match="no goal with a target"):
        goals.figure([])
