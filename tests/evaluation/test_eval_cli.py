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
    payload = json.loads(out.read_text())
    assert payload["summary"]["decision_accuracy"] == 1.0 and len(payload["records"]) == 5


def test_eval_cli_reliability_table_counts_every_report(tmp_path):
    out = tmp_path / "h.json"
    res = subprocess.run([sys.executable, "-m", "drugenv.cli", "eval", "--agent", "heuristic", "--suite", "procedural-test",
                          "--episodes", "40", "--no-progress", "--reliability", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "mean confidence  accuracy" in res.stdout
    payload = json.loads(out.read_text())
    reported = sum(r["decision"] is not None for r in payload["records"])
    assert sum(row["reports"] for row in payload["reliability"]) == reported > 0


def test_eval_cli_rejects_unknown_agent():
    res = subprocess.run([sys.executable, "-m", "drugenv.cli", "eval", "--agent", "wizard", "--episodes", "1"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "unknown agent 'wizard'" in res.stderr
