"""An agent that reads no evidence, scored: its committed records replay, and the README quotes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drugenv.evaluation.agents import import_policy, make_policy
from drugenv.evaluation.bootstrap import paired_bootstrap
from drugenv.evaluation.evaluate import evaluate
from drugenv.simulator.params import RewardConfig

ROOT = Path(__file__).resolve().parents[2]
AGENT = "examples/evidence_blind.py:EvidenceBlind"


@pytest.mark.parametrize("record,scoring,max_steps", [("evidence_blind", "linear", None), ("evidence_blind_brier12", "brier", 12)])
def test_the_blind_agents_records_replay_and_the_readme_quotes_them(record, scoring, max_steps):
    committed = json.loads((ROOT / "docs" / "results" / f"{record}.json").read_text(encoding="utf-8"))
    assert (committed["agent"], committed["suite"], committed["episodes"], committed["seed"], committed["max_steps"],
            committed["decision_scoring"]) == (AGENT, "procedural-test", 300, 0, max_steps, scoring)
    cfg = RewardConfig(decision_scoring=scoring)
    summary, records = evaluate(import_policy(str(ROOT / AGENT)), "procedural-test", 300, 0, reward_config=cfg,
                                max_steps=max_steps, progress=False)
    assert summary == pytest.approx(committed["summary"], rel=1e-9)
    ref_summary, ref_records = evaluate(make_policy("heuristic"), "procedural-test", 300, 0, reward_config=cfg,
                                        max_steps=max_steps, progress=False)
    diff = paired_bootstrap(records, ref_records)
    assert diff["mean_return"]["diff"] == pytest.approx(committed["paired"]["diff"]["mean_return"]["diff"], rel=1e-9)
    # What the README says of it: chance decisions, and a return that matches or beats the heuristic's.
    assert abs(summary["decision_accuracy"] - 0.5) < 0.06 and ref_summary["decision_accuracy"] > 0.8
    assert diff["mean_return"]["diff_ci"][1] > 0
    ret = diff["mean_return"]
    quoted = (f"{summary['mean_return']:.2f} against {ref_summary['mean_return']:.2f} ({'paired difference ' if max_steps is None else ''}"
              f"{ret['diff']:+.2f} [{ret['diff_ci'][0]:.2f}, {ret['diff_ci'][1]:.2f}])").replace("-", "−")
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert quoted in readme
    if max_steps is None:
        assert (f"right in {summary['decision_accuracy']:.2f} of them against the heuristic's "
                f"{ref_summary['decision_accuracy']:.2f}") in readme
