"""The README's baseline table is generated from the committed results, not typed."""

import json
from pathlib import Path

import pytest

from drugenv.evaluation.baseline_table import MARK_END, MARK_START, baseline_results, render_table, splice_readme

ROOT = Path(__file__).resolve().parents[2]


def test_readme_table_is_the_committed_json_rendered():
    payload = json.loads((ROOT / "docs/results/baselines.json").read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme == splice_readme(readme, render_table(payload))
    # The table says what the environment claims: the heuristic and oracle separate from random.
    rows = payload["results"]
    test = {a: rows[a]["procedural-test"]["decision_accuracy"] for a in payload["agents"]}
    assert test["oracle"] == 1.0 and test["heuristic"] >= test["random"] + 0.25


def test_the_committed_json_is_what_the_baselines_score_today():
    """The table's numbers come from today's simulator and baselines: a change to either that forgot to
    regenerate ``baselines.json`` (``python -m drugenv.evaluation.baseline_table --episodes 100 --readme
    README.md``) fails here. The 800 episodes take about a second."""
    payload = json.loads((ROOT / "docs/results/baselines.json").read_text(encoding="utf-8"))
    now = baseline_results(payload["episodes"], payload["seed"], tuple(payload["agents"]), progress=False)
    assert now.keys() == payload["results"].keys()
    for agent, rows in payload["results"].items():
        assert now[agent].keys() == rows.keys(), agent
        for row, metrics in rows.items():
            assert now[agent][row] == pytest.approx(metrics, rel=1e-9, abs=1e-12, nan_ok=True), (agent, row)


def test_splice_needs_the_markers():
    with pytest.raises(ValueError, match="markers"):
        splice_readme("no markers here", "| t |")
    assert splice_readme(f"a\n{MARK_START}\nold\n{MARK_END}\nb", "new") == f"a\n{MARK_START}\nnew\n{MARK_END}\nb"


@pytest.mark.parametrize("flags,message", [
    (["--episodes", "3"], "--episodes 3 is too few: the curated suite needs at least 5"),
    (["--agents", "bogus"], "--agents bogus: the baselines are random, heuristic, expression_only, oracle"),
    (["--seed", "-5"], "--seed must be an integer >= 0, got -5"),
    (["--readme", "{NOMARKERS}"], "no <!-- baseline-table:start --> ... <!-- baseline-table:end --> markers"),
])
def test_a_bad_flag_is_one_line_and_writes_nothing(flags, message, tmp_path):
    """A bad flag was a traceback, and --episodes below 5 one after the committed JSON had been rewritten
    (the table, rendered after the write, missed a curated scenario): now one line, exit 2, nothing written."""
    import subprocess
    import sys

    (tmp_path / "README.md").write_text("no table here\n", encoding="utf-8")
    out = tmp_path / "baselines.json"
    flags = [f.replace("{NOMARKERS}", str(tmp_path / "README.md")) for f in flags]
    proc = subprocess.run([sys.executable, "-m", "drugenv.evaluation.baseline_table", *flags, "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert not out.exists()
