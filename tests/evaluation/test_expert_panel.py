"""The two-credit expert-panel agent, scored in every tier: its committed records replay, and docs/agents.md
quotes them. Also ``evaluate(difficulty=)`` / ``drugenv eval --difficulty``, which plays the very_hard tier."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drugenv.errors import ConfigError
from drugenv.evaluation.agents import import_policy, make_policy
from drugenv.evaluation.bootstrap import paired_bootstrap
from drugenv.evaluation.cli import EvalArgs, eval_main
from drugenv.evaluation.evaluate import evaluate

ROOT = Path(__file__).resolve().parents[2]
AGENT = "examples/expert_panel.py:ExpertPanel"


@pytest.mark.parametrize("record,difficulty", [("expert_panel", None), ("expert_panel_very_hard", "very_hard")])
def test_the_panel_agents_records_replay_and_the_agents_page_quotes_them(record, difficulty):
    committed = json.loads((ROOT / "docs" / "results" / f"{record}.json").read_text(encoding="utf-8"))
    assert (committed["agent"], committed["suite"], committed["difficulty"], committed["episodes"], committed["seed"],
            committed["max_steps"], committed["decision_scoring"]) == (AGENT, "procedural-test", difficulty, 300, 0, None, "linear")
    summary, records = evaluate(import_policy(str(ROOT / AGENT)), "procedural-test", 300, 0, difficulty=difficulty, progress=False)
    assert summary == pytest.approx(committed["summary"], rel=1e-9)
    assert {r.difficulty for r in records} == ({difficulty} if difficulty else {"easy", "medium", "hard"})
    assert all(r.credits_used == 2 and r.decision is not None for r in records)
    ref_summary, ref_records = evaluate(make_policy("heuristic"), "procedural-test", 300, 0, difficulty=difficulty, progress=False)
    assert ref_summary == pytest.approx(committed["paired"]["summary"], rel=1e-9)
    diff = paired_bootstrap(records, ref_records)
    # What the page says: well above chance on two credits, short of the heuristic's investigation, in every tier.
    assert summary["decision_accuracy"] > 0.65 and diff["decision_accuracy"]["diff_ci"][1] < 0
    assert diff["decision_utility"]["diff_ci"][1] < 0 and diff["mean_return"]["diff_ci"][1] < 0
    page = " ".join((ROOT / "docs" / "agents.md").read_text(encoding="utf-8").split())
    acc = (f"right in {summary['decision_accuracy']:.2f} of 300 held-out episodes against the heuristic's "
           f"{ref_summary['decision_accuracy']:.2f}" if difficulty is None else
           f"in {summary['decision_accuracy']:.2f} against {ref_summary['decision_accuracy']:.2f} in the {difficulty} tier")
    util = f"{summary['decision_utility']:.2f} against {ref_summary['decision_utility']:.2f}"
    assert acc in page and util in page
    if difficulty is None:
        assert f"mean return of {summary['mean_return']:.2f} against {ref_summary['mean_return']:.2f}" in page


def test_a_tier_plays_the_suites_own_seeds_in_it():
    """The same seeds (gene and indication included) in the asked tier, with its budget; twins stay pairs."""
    heuristic = make_policy("heuristic")
    _, own = evaluate(heuristic, "procedural-test", 6, 0, progress=False)
    _, hard = evaluate(heuristic, "procedural-test", 6, 0, difficulty="very_hard", progress=False)
    assert [r.seed for r in own] == [r.seed for r in hard]
    assert {r.difficulty for r in hard} == {"very_hard"}
    _, twins = evaluate(heuristic, "procedural-test-twins", 6, 0, difficulty="very_hard", progress=False)
    assert [(r.scenario, r.difficulty) for r in twins[:2]] == [("procedural", "very_hard"), ("procedural-twin", "very_hard")]
    assert twins[0].correct_decision != twins[1].correct_decision
    _, sealed = evaluate(heuristic, "procedural-test", 4, 0, difficulty="very_hard", seal="s3cret", progress=False)
    assert {r.difficulty for r in sealed} == {"very_hard"}


def test_a_tier_is_refused_where_it_means_nothing(capsys):
    with pytest.raises(ConfigError, match="procedural suites"):
        evaluate(make_policy("heuristic"), "curated", 2, 0, difficulty="hard", progress=False)
    with pytest.raises(ConfigError, match="'impossible' is unknown"):
        evaluate(make_policy("heuristic"), "procedural-test", 2, 0, difficulty="impossible", progress=False)
    with pytest.raises(ConfigError, match="--difficulty hard is for the procedural suites"):
        eval_main(EvalArgs(agent="heuristic", suite="curated", difficulty="hard", progress=False))
    payload = eval_main(EvalArgs(agent="heuristic", suite="procedural-test", difficulty="very_hard", episodes=2, progress=False))
    assert payload["difficulty"] == "very_hard" and list(payload["by_scenario"]) == ["very_hard"]
    assert "procedural-test in the very_hard tier" in capsys.readouterr().out
