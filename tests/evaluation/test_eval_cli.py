"""`drugenv eval` end to end through a subprocess, as a user runs it."""

import json
import subprocess
import sys


def test_eval_cli_writes_json(tmp_path):
    out = tmp_path / "h.json"
    res = subprocess.run([sys.executable, "-m", "drugenv.cli", "eval", "--agent", "heuristic", "--suite", "curated",
                          "--episodes", "5", "--no-progress", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "egfr_nsclc_viable" in res.stdout and "ALL" in res.stdout
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["summary"]["decision_accuracy"] == 1.0 and len(payload["records"]) == 5


def test_eval_cli_reliability_table_counts_every_report(tmp_path):
    out = tmp_path / "h.json"
    res = subprocess.run([sys.executable, "-m", "drugenv.cli", "eval", "--agent", "heuristic", "--suite", "procedural-test",
                          "--episodes", "40", "--no-progress", "--reliability", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "mean confidence  accuracy" in res.stdout
    payload = json.loads(out.read_text(encoding="utf-8"))
    reported = sum(r["decision"] is not None for r in payload["records"])
    assert sum(row["reports"] for row in payload["reliability"]) == reported > 0


def test_eval_cli_by_belief_shows_the_heuristic_following_its_belief(tmp_path):
    """The heuristic reports the public belief, so every row of ``--by-belief`` is followed 100%,
    and the rows count every report."""
    out = tmp_path / "h.json"
    res = subprocess.run([sys.executable, "-m", "drugenv.cli", "eval", "--agent", "heuristic", "--suite", "procedural-test",
                          "--episodes", "40", "--max-steps", "12", "--no-progress", "--by-belief", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "agent no_go  followed" in res.stdout
    payload = json.loads(out.read_text(encoding="utf-8"))
    rows = payload["belief_agreement"]
    assert sum(row["reports"] for row in rows) == sum(r["decision"] is not None for r in payload["records"]) > 0
    assert {row["belief"] for row in rows} == {"go", "no_go"} and all(row["followed"] == 1.0 for row in rows)
    assert all(r["belief_decision"] in ("go", "no_go") for r in payload["records"])


def test_eval_cli_rejects_unknown_agent():
    res = subprocess.run([sys.executable, "-m", "drugenv.cli", "eval", "--agent", "wizard", "--episodes", "1"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "unknown agent 'wizard'" in res.stderr


def _random_paired_with_heuristic(tmp_path, suite: str, episodes: int, seed: int) -> tuple[str, dict]:
    """``drugenv eval --agent random --paired heuristic --out``: its stdout and the JSON it wrote."""
    out = tmp_path / "r.json"
    res = subprocess.run([sys.executable, "-m", "drugenv.cli", "eval", "--agent", "random", "--suite", suite, "--episodes",
                          str(episodes), "--seed", str(seed), "--no-progress", "--paired", "heuristic", "--out", str(out)],
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr
    assert "random − heuristic on the same episodes" in res.stdout
    return res.stdout, json.loads(out.read_text(encoding="utf-8"))


def test_eval_cli_paired_plays_the_reference_on_the_same_episodes(tmp_path):
    from drugenv.agents.baselines import HeuristicPolicy
    from drugenv.evaluation.evaluate import evaluate

    _, payload = _random_paired_with_heuristic(tmp_path, "procedural-test", 30, 7)
    paired = payload["paired"]
    alone, _ = evaluate(HeuristicPolicy(), "procedural-test", 30, 7, progress=False)
    assert paired["agent"] == "heuristic" and paired["summary"] == alone
    acc = paired["diff"]["decision_accuracy"]
    assert acc["ref_mean"] == alone["decision_accuracy"] and acc["diff"] == acc["mean"] - acc["ref_mean"]
    assert acc["diff_ci"][0] <= acc["diff"] <= acc["diff_ci"][1] and acc["diff"] < 0  # random is worse than the heuristic


def test_eval_cli_paired_also_compares_each_curated_scenario(tmp_path):
    from drugenv.scenarios import CURATED_NAMES

    stdout, payload = _random_paired_with_heuristic(tmp_path, "curated", 10, 3)
    assert "decision_utility by scenario: " in stdout
    per = payload["paired"]["by_scenario"]
    assert sorted(per) == sorted(CURATED_NAMES) and all(d["episodes"] == 2 for d in per.values())
    for name, d in per.items():  # each scenario's pairs: the agent's own per-scenario mean, minus the heuristic's there
        assert d["decision_accuracy"]["mean"] == payload["by_scenario"][name]["decision_accuracy"]
        assert d["decision_utility"]["diff"] == d["decision_utility"]["mean"] - d["decision_utility"]["ref_mean"]


def test_eval_cli_rejects_an_unknown_paired_agent_before_playing():
    res = subprocess.run([sys.executable, "-m", "drugenv.cli", "eval", "--agent", "heuristic", "--paired", "wizard",
                          "--episodes", "1", "--no-progress"], capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "unknown agent 'wizard'" in res.stderr and "ALL" not in res.stdout
