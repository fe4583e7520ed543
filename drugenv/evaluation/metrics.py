"""Evaluation metrics over finished episodes. Keys are constants so tables, JSON and Tune agree.

| key                | meaning                                                                   |
|--------------------|---------------------------------------------------------------------------|
| decision_accuracy  | fraction of episodes whose report matched the hidden decision (no report = wrong) |
| mean_return        | mean undiscounted episode return                                          |
| terminal_reward    | mean terminal reward (sum of terminal/* terms)                            |
| brier              | mean (p_go − y)², p_go the stated probability of go (no report: 0.25)     |
| ece                | expected calibration error over reported episodes, 10 equal bins (NaN: none)|
| evidence_coverage  | mean fraction of key evidence dimensions covered                          |
| credits_used       | mean credits spent                                                        |
| steps              | mean steps per episode                                                    |
| violation_rate     | rule violations per step                                                  |
| report_rate        | fraction of episodes that ended with a report                             |
| decision_utility   | mean decision score under the linear rule (+2|c−½| right, −2|c−½| wrong, 0: no report) |

An episode without a report counts as wrong for accuracy, as a coin flip (0.25) for Brier and as 0
for utility, and is left out of ECE: on Brier and utility an agent that never reports scores as
one that always says "50%". Decision utility is the spec's linear rule, which reads the confidence as
the strength of the stated decision, symmetric about ½: a right "go" at confidence 0.0 scores +1, as
at 1.0 (its Brier, which reads the confidence as the probability of the decision, is the worst). It
pays for confident reports; Brier is the proper score, and the two are read together.

Counterfactual twins (suite ``procedural-test-twins``) have their own metrics, ``twin_metrics``,
kept out of ``summarize`` so every other suite's numbers are unchanged:

| key                | meaning                                                                   |
|--------------------|---------------------------------------------------------------------------|
| twin_pairs         | number of (original, twin) pairs found in the records                     |
| original_accuracy  | decision accuracy on the originals of those pairs                         |
| twin_accuracy      | decision accuracy on the twins                                            |
| pair_accuracy      | fraction of pairs with both members decided correctly                     |
| same_decision_rate | fraction of pairs given the same reported decision (gene-name following)  |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from drugenv.errors import ConfigError, whole_number
from drugenv.scenarios import TWIN_SCENARIO

DECISION_ACCURACY = "decision_accuracy"
MEAN_RETURN = "mean_return"
TERMINAL_REWARD = "terminal_reward"
BRIER = "brier"
ECE = "ece"
EVIDENCE_COVERAGE = "evidence_coverage"
CREDITS_USED = "credits_used"
STEPS = "steps"
VIOLATION_RATE = "violation_rate"
REPORT_RATE = "report_rate"
DECISION_UTILITY = "decision_utility"

METRIC_KEYS: tuple[str, ...] = (DECISION_ACCURACY, MEAN_RETURN, TERMINAL_REWARD, BRIER, ECE, EVIDENCE_COVERAGE,
                                CREDITS_USED, STEPS, VIOLATION_RATE, REPORT_RATE, DECISION_UTILITY)
LOWER_IS_BETTER = frozenset({BRIER, ECE, CREDITS_USED, VIOLATION_RATE})
HELDOUT_TABLE_KEYS: tuple[str, ...] = (DECISION_ACCURACY, DECISION_UTILITY, BRIER, ECE, CREDITS_USED, MEAN_RETURN)
"""The held-out metrics a training run's tables show, in their order: the PPO curve, the PPO results
table and a sweep's trials."""

TWIN_PAIRS = "twin_pairs"
ORIGINAL_ACCURACY = "original_accuracy"
TWIN_ACCURACY = "twin_accuracy"
PAIR_ACCURACY = "pair_accuracy"
SAME_DECISION_RATE = "same_decision_rate"
TWIN_METRIC_KEYS: tuple[str, ...] = (TWIN_PAIRS, ORIGINAL_ACCURACY, TWIN_ACCURACY, PAIR_ACCURACY, SAME_DECISION_RATE)


@dataclass
class EpisodeRecord:
    """One finished episode, as evaluation sees it (hidden truth reduced to 'was it right')."""

    scenario: str
    seed: int
    difficulty: str
    decision: Optional[str]
    confidence: Optional[float]
    """The report's confidence: set whenever ``decision`` is (the environment's missing_decision rule refuses a
    report without either, and ``EpisodeOutcome`` carries both or neither)."""
    correct_decision: str
    episode_return: float
    terminal_reward: float
    coverage: float
    credits_used: int
    steps: int
    violations: int
    termination: str
    belief_decision: Optional[str] = None
    """The public belief (``agents.belief.assess``) of the last observation, the decision half: what
    the evidence table in an LLM's last prompt says. None where it was not computed."""
    belief_confidence: Optional[float] = None
    """That belief's confidence."""

    @property
    def correct(self) -> bool:
        return self.decision == self.correct_decision

    @property
    def p_go(self) -> float:
        if self.decision is None or self.confidence is None:
            return 0.5
        return self.confidence if self.decision == "go" else 1.0 - self.confidence


def _stated_confidence(r: EpisodeRecord) -> float:
    """The confidence of a reported episode (``decision`` set), which has one (``EpisodeRecord.confidence``)."""
    if r.confidence is None:  # a hand-made record: arithmetic on None was this TypeError's bare form
        raise TypeError(f"episode {r.scenario!r} seed {r.seed} reports {r.decision!r} without a confidence")
    return r.confidence


def _decision_utility(r: EpisodeRecord) -> float:
    """``decision_utility``'s per-episode term: 2·|confidence − 0.5|, signed by correctness; 0 without a report."""
    return (2 * abs(_stated_confidence(r) - 0.5)) * (1 if r.correct else -1) if r.decision else 0.0


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE = Σ_b (n_b / n)·|acc_b − conf_b| over equal-width confidence bins; NaN without a single
    confidence (an agent that never reports is not calibrated, and 0.0 ranked it best)."""
    bins = whole_number(bins, "bins")  # 0 bins or fewer returned 0.0, which reads as perfect calibration
    c = np.asarray(confidences, dtype=float)
    y = np.asarray(correct, dtype=float)
    if len(c) != len(y):
        raise ConfigError(f"expected_calibration_error needs one outcome per confidence ({len(c)} vs {len(y)})")
    if len(c) == 0:
        return float("nan")
    if not np.all((c >= 0) & (c <= 1)):  # NaN too: it fell in no bin and the ECE read 0.0
        raise ConfigError("confidences must be numbers in [0, 1] (a NaN or one outside fell in no bin)")
    idx = np.minimum((c * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(y[m].mean() - c[m].mean())
    return float(ece)


RELIABILITY_EDGES: tuple[float, ...] = (0.0, 0.5, 0.7, 0.9, 0.98, 0.995, 1.0)
"""Confidence bins of ``reliability``: finer at the top, where a confident report is worth most (a
confidence below 0.5, which the report model allows, has a bin of its own)."""


def reliability(records: Sequence[EpisodeRecord], edges: Sequence[float] = RELIABILITY_EDGES) -> list[dict[str, Any]]:
    """How often a stated confidence is right, per reported decision and confidence bin: rows of
    ``{"decision", "low", "high", "reports", "confidence", "accuracy"}`` (bins are ``[low, high)``,
    the last one closed). A calibrated agent's accuracy matches its mean confidence in every row;
    an empty bin has no row."""
    rows = []
    for decision in ("go", "no_go"):
        stated = [(r, r.confidence) for r in records if r.decision == decision and r.confidence is not None]
        for i, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
            last = i == len(edges) - 2
            inside = [(r, c) for r, c in stated if low <= c < high or (last and c == high)]
            if inside:
                rows.append({"decision": decision, "low": low, "high": high, "reports": len(inside),
                             "confidence": float(np.mean([c for _, c in inside])),
                             "accuracy": float(np.mean([r.correct for r, _ in inside]))})
    return rows


BELIEF_EDGES: tuple[float, ...] = (0.5, 0.9, 0.97, 1.0)
"""Confidence bands of ``belief_agreement``: the top band is where the teacher's data is lopsided
(docs/grpo.md, "Confident go reports")."""


def belief_agreement(records: Sequence[EpisodeRecord], edges: Sequence[float] = BELIEF_EDGES) -> list[dict[str, Any]]:
    """The agent's reports sorted by what the public belief of its last observation said: rows of
    ``{"belief", "low", "high", "reports", "go", "no_go", "followed", "accuracy"}`` per belief
    decision and belief-confidence band (``[low, high)``, the last one closed), over reported episodes
    with a belief. ``followed`` is the fraction whose decision equals the belief's: where an agent
    departs from its evidence table, and whether departing paid (``accuracy``). An empty band has no row."""
    rows = []
    for belief in ("go", "no_go"):
        held = [(r, r.belief_confidence) for r in records
                if r.decision is not None and r.belief_decision == belief and r.belief_confidence is not None]
        for i, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
            last = i == len(edges) - 2
            inside = [r for r, c in held if low <= c < high or (last and c == high)]
            if inside:
                rows.append({"belief": belief, "low": low, "high": high, "reports": len(inside),
                             "go": sum(r.decision == "go" for r in inside), "no_go": sum(r.decision == "no_go" for r in inside),
                             "followed": float(np.mean([r.decision == belief for r in inside])),
                             "accuracy": float(np.mean([r.correct for r in inside]))})
    return rows


def summarize(records: Sequence[EpisodeRecord]) -> dict[str, float]:
    """Aggregate metrics over episodes (see the module table)."""
    if not records:
        return {k: float("nan") for k in METRIC_KEYS}
    reported = [r for r in records if r.decision is not None]
    y = np.array([1.0 if r.correct_decision == "go" else 0.0 for r in records])
    p = np.array([r.p_go for r in records])
    util = [_decision_utility(r) for r in records]
    steps = sum(r.steps for r in records)
    return {
        DECISION_ACCURACY: float(np.mean([r.correct for r in records])),
        MEAN_RETURN: float(np.mean([r.episode_return for r in records])),
        TERMINAL_REWARD: float(np.mean([r.terminal_reward for r in records])),
        BRIER: float(np.mean((p - y) ** 2)),
        ECE: expected_calibration_error([_stated_confidence(r) for r in reported], [r.correct for r in reported]),
        EVIDENCE_COVERAGE: float(np.mean([r.coverage for r in records])),
        CREDITS_USED: float(np.mean([r.credits_used for r in records])),
        STEPS: float(np.mean([r.steps for r in records])),
        VIOLATION_RATE: float(sum(r.violations for r in records) / max(1, steps)),
        REPORT_RATE: len(reported) / len(records),
        DECISION_UTILITY: float(np.mean(util)),
    }


def twin_metrics(records: Sequence[EpisodeRecord], twin_scenario: str = TWIN_SCENARIO) -> dict[str, float]:
    """Does the verdict follow the evidence or the gene name? Metrics over counterfactual twin pairs.

    A pair is the episode of a procedural seed (``scenario == "procedural"``) and the episode of
    its twin (``scenario == twin_scenario``) with the same ``seed``, as the ``procedural-test-twins``
    suite lays them out. The twin has the same gene, indication, tier and perturbation as the
    original and the *opposite* correct decision, so the name (and everything else the two share)
    carries no information about the answer.

    - ``original_accuracy`` / ``twin_accuracy``: decision accuracy on each side of the pairs.
    - ``pair_accuracy``: both members decided correctly. Only an agent that reads the evidence can
      score high: one that answers from the gene name (or anything the twins share) gives both the
      same answer and so gets at most one of each pair right, i.e. a pair accuracy of 0.
    - ``same_decision_rate``: both members reported and given the same decision — the rate of
      gene-name following (a missing report is no decision, so it never counts as "the same").
    - ``twin_pairs``: how many pairs were found.

    Records without a partner (other suites, an odd episode count) are ignored; with no pair every
    rate is NaN. A seed seen several times pairs its originals and twins in order. Records may come in
    any order: a sealed run plays the twins apart from their originals (``evaluate.sealed_order``).
    """
    originals: dict[int, list[EpisodeRecord]] = {}
    twins: dict[int, list[EpisodeRecord]] = {}
    for r in records:
        if r.scenario == "procedural":
            originals.setdefault(r.seed, []).append(r)
        elif r.scenario == twin_scenario:
            twins.setdefault(r.seed, []).append(r)
    pairs = [p for seed in originals for p in zip(originals[seed], twins.get(seed, []))]
    if not pairs:
        return {TWIN_PAIRS: 0, **{k: float("nan") for k in TWIN_METRIC_KEYS[1:]}}
    return {
        TWIN_PAIRS: len(pairs),
        ORIGINAL_ACCURACY: float(np.mean([o.correct for o, _ in pairs])),
        TWIN_ACCURACY: float(np.mean([t.correct for _, t in pairs])),
        PAIR_ACCURACY: float(np.mean([o.correct and t.correct for o, t in pairs])),
        SAME_DECISION_RATE: float(np.mean([o.decision is not None and o.decision == t.decision for o, t in pairs])),
    }


__all__ = [
    "BELIEF_EDGES", "BRIER", "CREDITS_USED", "DECISION_ACCURACY", "DECISION_UTILITY", "ECE", "EVIDENCE_COVERAGE",
    "EpisodeRecord", "HELDOUT_TABLE_KEYS", "LOWER_IS_BETTER", "MEAN_RETURN", "METRIC_KEYS", "ORIGINAL_ACCURACY",
    "PAIR_ACCURACY", "RELIABILITY_EDGES", "REPORT_RATE", "SAME_DECISION_RATE", "STEPS", "TERMINAL_REWARD",
    "TWIN_ACCURACY", "TWIN_METRIC_KEYS", "TWIN_PAIRS", "VIOLATION_RATE", "belief_agreement",
    "expected_calibration_error", "reliability", "summarize", "twin_metrics",
]
