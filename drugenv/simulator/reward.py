"""Reward computer: every step reward comes with its breakdown (keys are ``reward/...`` names).

Formulas are in ``RewardConfig``'s docstring; the terms here carry their sign (penalties negative),
so a step's reward is the plain sum of its breakdown.

Why the step terms never see the secret: every client receives step rewards (OpenEnv results,
``step_reward_breakdown``, the TRL tool text), so a step term computed from hidden quantities is a
side channel. The spec names a shaping potential Φ without defining it; DrugEnv's first Φ was the
fraction of the scenario's key dimensions covered. Those are hidden, and a logistic regression on the
step rewards of six fixed queries predicted go/no-go at 0.91 held-out accuracy (488e140). So ``step_terms`` and ``potential`` take only the public
``EpisodeBook``, and Φ counts the public go/no-go gates (``GATE_DIMENSIONS``) the agent has
inspected. Only ``terminal_terms`` — paid once, when the episode is over — reads the secret.
"""

from __future__ import annotations

from typing import Mapping, Optional

from drugenv.actions import EvidenceDimension as D
from drugenv.models import DrugTargetAction
from drugenv.simulator.episode import EpisodeBook
from drugenv.simulator.latent import FullLatentState
from drugenv.simulator.params import RewardConfig
from drugenv.simulator.rules import RuleCheck
from drugenv.simulator.transitions import Transition


def decision_score(decision: str, confidence: float, correct: str, scoring: str) -> float:
    """Decision accuracy in [-1, 1].

    linear: ``+2·|c − 0.5|`` if right, ``−2·|c − 0.5|`` if wrong (the spec's rule; improper — it
    pays to state 0 or 1 whatever one believes).
    brier: ``1 − 2·(p_go − y)²`` with ``p_go`` the stated probability that go is right
    (``c`` if the decision is go, ``1 − c`` otherwise) and ``y = 1`` iff go is correct. Proper: its
    expectation under belief q peaks at ``p_go = q``.
    """
    if scoring == "linear":
        magnitude = 2.0 * abs(confidence - 0.5)
        return magnitude if decision == correct else -magnitude
    if scoring == "brier":
        p_go = confidence if decision == "go" else 1.0 - confidence
        y = 1.0 if correct == "go" else 0.0
        return 1.0 - 2.0 * (p_go - y) ** 2
    raise ValueError(f"unknown decision_scoring {scoring!r}; expected 'linear' or 'brier'")


GATE_DIMENSIONS: dict[str, frozenset[D]] = {
    "tractable": frozenset({D.DRUGGABILITY, D.STRUCTURE, D.LITERATURE}),
    "linkage": frozenset({D.EXPRESSION, D.DEPENDENCY}),
    "safe": frozenset({D.TOXICITY}),
    "selective": frozenset({D.OFF_TARGET}),
    "translates": frozenset({D.IN_VITRO, D.IN_VIVO}),
}
"""The evidence dimensions whose readouts each public go/no-go gate (``gates.GATE_NAMES``) reads:
the indication-independent evidence every validation needs, whatever the scenario's hidden key dimensions."""
_GATE_DIMS = tuple(GATE_DIMENSIONS.values())


def potential(book: EpisodeBook, cfg: RewardConfig) -> float:
    """Φ(s) = shaping_weight × fraction of public gates with at least one dimension investigated (0 when shaping is off)."""
    if not cfg.shaping:
        return 0.0
    investigated = book.progress.investigated
    inspected = sum(1 for dims in _GATE_DIMS if not dims.isdisjoint(investigated))
    return cfg.shaping_weight * inspected / len(_GATE_DIMS)


def step_terms(
    book: EpisodeBook, check: RuleCheck, tr: Transition, phi_before: float, cfg: RewardConfig,
    extra_violations: int = 0,
) -> dict[str, float]:
    """Per-step terms (signed), from public quantities only. ``phi_before`` is ``potential(book, cfg)``
    before the transition; ``extra_violations`` counts hard violations found before the rule engine
    (invalid actions)."""
    hard = check.hard
    terms = {
        "reward/novelty": cfg.novelty_bonus if tr.new_dimension else 0.0,
        # Only a new measurement earns coherence: a free meta action (flag_red_flag), or a query asked again
        # in other words, must not farm it (``transitions.apply``).
        "reward/coherence": cfg.coherence_bonus if (check.prereq_applicable and check.prereq_met and not check.blocked
                                                    and tr.new_measurement) else 0.0,
        "reward/credit_cost": -cfg.credit_cost_weight * tr.cost / book.credits.total,
        "reward/violations": -(cfg.hard_violation_penalty * (len(hard) + extra_violations)
                               + cfg.soft_violation_penalty * (len(check.violations) - len(hard))),
        # Φ reads only the investigated dimensions, which change only with a new one.
        "reward/shaping": (potential(book, cfg) if tr.new_dimension else phi_before) - phi_before,
    }
    if any(v.rule == "missing_decision" for v in hard):
        terms["reward/missing_decision"] = -cfg.missing_decision_penalty
    return terms


TERMINAL_PREFIX = "terminal/"
"""Marks the terms of a breakdown that only an episode's last step has (``terminal_terms``)."""


def terminal_reward(breakdown: Mapping[str, float]) -> float:
    """The terminal terms of a step's breakdown summed: an episode's terminal reward, read from its last step."""
    return sum(v for k, v in breakdown.items() if k.startswith(TERMINAL_PREFIX))


def blocked_terms(cfg: RewardConfig) -> dict[str, float]:
    """The breakdown of a step refused outright (a malformed action, or a step after the end): the penalty alone."""
    return {"reward/violations": -cfg.hard_violation_penalty}


def terminal_terms(
    latent: FullLatentState, book: EpisodeBook, action: Optional[DrugTargetAction], cfg: RewardConfig
) -> dict[str, float]:
    """Terminal terms, added on the episode's last step.

    ``action`` is the submitted report, or None when the episode ended without one
    (credits exhausted or step limit): then only coverage/efficiency/coherence and the
    no-report penalty count.
    """
    prog = book.progress
    coverage = latent.key_coverage
    efficiency = 1.0 - prog.redundant_calls / prog.evidence_calls if prog.evidence_calls else 0.0
    coherence = prog.prereq_satisfied / prog.prereq_checked if prog.prereq_checked else 1.0
    terms = {
        TERMINAL_PREFIX + "evidence_coverage": cfg.w_coverage * coverage,
        TERMINAL_PREFIX + "credit_efficiency": cfg.w_efficiency * efficiency,
        TERMINAL_PREFIX + "reasoning_coherence": cfg.w_coherence * coherence,
    }
    if action is None:
        terms[TERMINAL_PREFIX + "decision_accuracy"] = 0.0
        terms[TERMINAL_PREFIX + "no_report_penalty"] = -cfg.no_report_penalty
        return terms
    acc = decision_score(action.final_decision, float(action.confidence), latent.profile.correct_decision, cfg.decision_scoring)
    terms[TERMINAL_PREFIX + "decision_accuracy"] = cfg.w_decision * acc
    if prog.evidence_calls == 0:
        terms[TERMINAL_PREFIX + "no_evidence_penalty"] = -cfg.no_evidence_penalty
    return terms


__all__ = [
    "GATE_DIMENSIONS", "TERMINAL_PREFIX", "blocked_terms", "decision_score", "potential", "step_terms",
    "terminal_reward", "terminal_terms",
]
