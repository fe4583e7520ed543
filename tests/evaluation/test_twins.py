"""Counterfactual-twin metrics: the verdict must follow the evidence, not the gene name."""

import json
import math
import subprocess
import sys

from drugenv.actions import ActionType
from drugenv.agents.base import Policy
from drugenv.agents.baselines import HeuristicPolicy
from drugenv.evaluation.evaluate import evaluate
from drugenv.evaluation.metrics import (
    METRIC_KEYS,
    ORIGINAL_ACCURACY,
    PAIR_ACCURACY,
    SAME_DECISION_RATE,
    TWIN_ACCURACY,
    TWIN_METRIC_KEYS,
    TWIN_PAIRS,
    EpisodeRecord,
    summarize,
    twin_metrics,
)
from drugenv.models import DrugTargetAction

SUITE = "procedural-test-twins"


def rec(scenario, seed, decision, correct_decision):
    return EpisodeRecord(scenario=scenario, seed=seed, difficulty="easy", decision=decision,
                         confidence=None if decision is None else 0.8, correct_decision=correct_decision,
                         episode_return=0.0, terminal_reward=0.0, coverage=0.0, credits_used=0, steps=1,
                         violations=0, termination="report")


def test_twin_metrics_on_hand_made_records():
    records = [
        rec("procedural", 1, "go", "go"), rec("procedural-twin", 1, "no_go", "no_go"),      # both right
        rec("procedural", 2, "go", "go"), rec("procedural-twin", 2, "go", "no_go"),         # same answer: one right
        rec("procedural", 3, "no_go", "go"), rec("procedural-twin", 3, "no_go", "no_go"),   # same answer: one right
        rec("procedural", 4, None, "no_go"), rec("procedural-twin", 4, None, "go"),         # no reports
        rec("procedural", 5, "go", "go"),                                                   # unpaired: ignored
        rec("egfr_nsclc_viable", 1, "go", "go"),                                            # other suite: ignored
    ]
    m = twin_metrics(records)
    assert tuple(m) == TWIN_METRIC_KEYS
    assert m[TWIN_PAIRS] == 4
    assert m[ORIGINAL_ACCURACY] == 0.5 and m[TWIN_ACCURACY] == 0.5
    assert m[PAIR_ACCURACY] == 0.25
    assert m[SAME_DECISION_RATE] == 0.5  # pairs 2 and 3; two missing reports are not "the same decision"
    # Pairing is by seed, not by position.
    assert twin_metrics(list(reversed(records))) == m


def test_twin_metrics_without_pairs_is_nan_and_summarize_is_unchanged():
    m = twin_metrics([rec("procedural", 1, "go", "go"), rec("curated_x", 1, "go", "go")])
    assert m[TWIN_PAIRS] == 0 and all(math.isnan(m[k]) for k in TWIN_METRIC_KEYS[1:])
    records = [rec("procedural", 1, "go", "go"), rec("procedural-twin", 1, "go", "no_go")]
    assert tuple(summarize(records)) == METRIC_KEYS  # twin metrics stay out of the standard summary


class AlwaysGo(Policy):
    """Answers from nothing (a fortiori from the gene name): submits go at once."""

    name = "always_go"

    def act(self, observations):
        return [DrugTargetAction(action_type=ActionType.SUBMIT_VALIDATION_REPORT, final_decision="go", confidence=0.9)
                for _ in observations]


def test_heuristic_pair_accuracy_is_far_above_a_constant_policy():
    const, const_records = evaluate(AlwaysGo(), SUITE, 16, 0, max_steps=12, progress=False)
    tc = twin_metrics(const_records)
    assert tc[TWIN_PAIRS] == 8 and tc[PAIR_ACCURACY] == 0.0 and tc[SAME_DECISION_RATE] == 1.0
    assert const["decision_accuracy"] == 0.5  # exactly one of each pair is right
    _, records = evaluate(HeuristicPolicy(), SUITE, 16, 0, max_steps=12, progress=False)
    th = twin_metrics(records)
    assert th[TWIN_PAIRS] == 8 and th[PAIR_ACCURACY] >= 0.5 and th[SAME_DECISION_RATE] <= 0.5
    # Deterministic: the same suite and seed give the same numbers.
    assert twin_metrics(evaluate(HeuristicPolicy(), SUITE, 16, 0, max_steps=12, progress=False)[1]) == th


def test_eval_cli_prints_and_writes_twin_metrics(tmp_path):
    out = tmp_path / "twins.json"
    res = subprocess.run([sys.executable, "-m", "drugenv.cli", "eval", "--agent", "oracle", "--suite", SUITE,
                          "--episodes", "6", "--max-steps", "12", "--no-progress", "--out", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "pair_accuracy 1.000" in res.stdout and "twin_pairs 3" in res.stdout
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["twins"][PAIR_ACCURACY] == 1.0 and payload["twins"][SAME_DECISION_RATE] == 0.0
    assert [r["scenario"] for r in payload["records"]] == ["procedural", "procedural-twin"] * 3


def test_twin_rows_are_split_by_tier_like_their_originals():
    from drugenv.agents.baselines import HeuristicPolicy
    from drugenv.evaluation.evaluate import by_scenario, evaluate

    _, records = evaluate(HeuristicPolicy(), suite="procedural-test-twins", episodes=24, progress=False)
    rows = by_scenario(records)
    originals = {k for k in rows if not k.startswith("twin/")}
    assert originals and {k for k in rows if k.startswith("twin/")} == {f"twin/{t}" for t in originals}
    tiers = [r.difficulty for r in records]
    assert tiers[::2] == tiers[1::2]  # a twin keeps its original's tier, so each pair falls in matching rows
