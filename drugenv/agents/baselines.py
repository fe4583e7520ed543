"""Baseline agents: random, heuristic (a sensible scientist's fixed protocol), expression-only (naive),
and oracle (reads the hidden truth; the source of SFT warm-start data)."""

from __future__ import annotations

import typing
from typing import Any, Optional, Sequence

import numpy as np

from drugenv.actions import ACTION_TABLE, EVIDENCE_ACTIONS, ActionType, EvidenceDimension
from drugenv.agents.base import Policy
from drugenv.agents.belief import Assessment, assess
from drugenv.errors import ConfigError, whole_number
from drugenv.models import DrugTargetAction, ValidationObservation, _canonical_parameters, trusted

A = ActionType


def _submit(decision: str, confidence: float, reasoning: str) -> DrugTargetAction:
    # Inside (0, 1] clipping returns the number itself; np.clip (a Python-level wrapper) only outside.
    c = float(confidence) if 0.0 < confidence <= 1.0 else float(np.clip(confidence, 0.0, 1.0))
    return DrugTargetAction(action_type=A.SUBMIT_VALIDATION_REPORT, final_decision=decision,
                            confidence=round(c, 3), reasoning=reasoning)


def _honest_report(obs: ValidationObservation, reason: str, belief: Optional[Assessment] = None) -> DrugTargetAction:
    b = assess(obs.dossier) if belief is None else belief
    decision, conf = b.decision()
    return _submit(decision, conf, f"{reason}; belief P(go) = {b.p_go:.2f}")


_COST: dict[ActionType, int] = {a: spec.cost for a, spec in ACTION_TABLE.items()}
_LITERAL, _BOOL, _REQUIRED_TEXT = range(3)
_PARAM_PLANS: dict[ActionType, tuple[tuple[str, int, tuple], ...]] = {}
"""Per action type, what ``random_parameters`` draws for each parameter (read from its model once)."""
_RANDOM_ACTION_FIELDS = frozenset({"action_type", "parameters", "reasoning"})


def _param_plan(action_type: ActionType) -> tuple[tuple[str, int, tuple], ...]:
    plan = _PARAM_PLANS.get(action_type)
    if plan is None:
        steps = []
        for name, f in ACTION_TABLE[action_type].params.model_fields.items():
            ann = f.annotation
            args = typing.get_args(ann)
            if typing.get_origin(ann) is typing.Literal:
                steps.append((name, _LITERAL, args))
            elif ann is bool:
                steps.append((name, _BOOL, ()))
            elif f.is_required():
                steps.append((name, _REQUIRED_TEXT, ()))
        plan = _PARAM_PLANS[action_type] = tuple(steps)
    return plan


def _random_action(action_type: ActionType, parameters: dict[str, Any]) -> DrugTargetAction:
    """``DrugTargetAction(action_type=..., parameters=..., reasoning="random")`` without re-validating the
    other fields: the parameters go through the same canonicalisation (validated, memoised) and the
    instance equals the validated one, fields-set included (``tests/agents/test_random_policy.py``)."""
    action = trusted(DrugTargetAction, action_type=action_type,
                     parameters=_canonical_parameters(action_type, parameters), reasoning="random",
                     final_decision=None, confidence=None)
    object.__setattr__(action, "__pydantic_fields_set__", set(_RANDOM_ACTION_FIELDS))
    return action


_WORD = 0xFFFFFFFF

FOLLOW_UP_BELOW = 0.4
"""A gate whose pass probability is below this is failing: the heuristic's follow-up rule (``follow_ups``),
and what the LLM prompt's evidence table marks ``FAIL`` (``llm.prompts``)."""
STOP_LOGIT = 4.0
"""The protocol policies stop investigating once ``|log-odds of P(go)|`` reaches this (the prompt's ``decisive``)."""


class RandomPolicy(Policy):
    """Uniform over affordable actions with random valid parameters; submits with probability
    ``submit_prob`` each step (random decision, confidence uniform in [0.5, 1])."""

    name = "random"

    def __init__(self, seed: int = 0, submit_prob: float = 0.15):
        if isinstance(submit_prob, bool) or not isinstance(submit_prob, (int, float)) or not 0.0 <= submit_prob <= 1.0:
            raise ConfigError(f"submit_prob must be a number in [0, 1], got {submit_prob!r:.60}")
        self.seed, self.submit_prob = whole_number(seed, "seed", at_least=0), submit_prob
        self._rngs: list[np.random.Generator] = [np.random.default_rng(self.seed)]

    def reset(self, batch_size: int = 1, seeds: Optional[Sequence[int]] = None) -> None:
        batch_size = whole_number(batch_size, "batch_size")  # 0 was a ZeroDivisionError at the next act
        seeds = list(seeds) if seeds is not None else list(range(batch_size))
        if len(seeds) != batch_size:
            raise ConfigError(f"reset got {len(seeds)} seeds for a batch of {batch_size}: one a slot")
        # whole numbers >= 0 of any size: a twin's policy seed runs past 64 bits (episodes.policy_seed)
        self._rngs = [self.episode_rng(whole_number(s, "an episode's seed", at_least=0)) for s in seeds]

    def episode_rng(self, episode_seed: int) -> np.random.Generator:
        """The generator of one episode: a function of the episode's seed and the policy's ``seed``.

        The entropy is the episode seed in three 32-bit words (a counterfactual twin's policy seed
        runs past 64 bits: ``evaluation.episodes.policy_seed``), then the policy seed's words. Words
        of 0 at the end hash as absent, so ``seed=0`` plays ``default_rng(episode_seed)``'s stream, as
        every recorded random baseline did; until this, ``seed`` was ignored whenever seeds were given.
        """
        s, k = int(episode_seed), int(self.seed)
        words = [s & _WORD, (s >> 32) & _WORD, s >> 64]
        while k:
            words.append(k & _WORD)
            k >>= 32
        return np.random.default_rng(words)

    @staticmethod
    def random_parameters(action_type: ActionType, rng: np.random.Generator) -> dict[str, Any]:
        """Random valid parameters for an action type, drawn from its parameter model."""
        out: dict[str, Any] = {}
        for name, kind, args in _param_plan(action_type):
            if kind == _LITERAL:
                out[name] = args[int(rng.integers(len(args)))]
            elif kind == _BOOL:
                out[name] = bool(rng.integers(2))
            else:
                out[name] = "unexpected readout"
        return out

    def act(self, observations: Sequence[ValidationObservation]) -> list[DrugTargetAction]:
        actions = []
        submit, cost = A.SUBMIT_VALIDATION_REPORT, _COST
        for i, obs in enumerate(observations):
            rng = self._rngs[i % len(self._rngs)]
            credits = obs.credits_remaining
            options = [a for a in obs.legal_actions if a != submit and cost[a] < credits]
            if not options or rng.random() < self.submit_prob:
                actions.append(_submit(("go", "no_go")[int(rng.integers(2))], float(rng.uniform(0.5, 1.0)), "random"))
                continue
            a = options[int(rng.integers(len(options)))]
            actions.append(_random_action(a, self.random_parameters(a, rng)))
        return actions


class ProtocolPolicy(Policy):
    """Runs a fixed list of investigations, then submits an honest report from ``belief.assess``.

    Stops early once ``|logit| >= stop_logit`` after ``min_steps`` investigations, and never
    spends the last credit (running out of credits ends the episode without a report).
    """

    name = "protocol"
    protocol: tuple[tuple[ActionType, dict], ...] = ()
    stop_logit: float = STOP_LOGIT
    min_steps: int = 4

    def act(self, observations: Sequence[ValidationObservation]) -> list[DrugTargetAction]:
        return [self._act_one(o) for o in observations]

    def _act_one(self, obs: ValidationObservation) -> DrugTargetAction:
        done_keys = {(h.action_type, tuple(sorted(h.parameters.items()))) for h in obs.pipeline_history}
        n_done = sum(1 for h in obs.pipeline_history if h.action_type in {a.value for a in EVIDENCE_ACTIONS})
        follow_ups = self.follow_ups(obs)
        pending = [(a, p) for a, p in follow_ups if (a.value, tuple(sorted(p.items()))) not in done_keys]
        if n_done >= self.min_steps and not pending:
            belief = assess(obs.dossier)
            if abs(belief.logit) >= self.stop_logit:
                return _honest_report(obs, "evidence is decisive", belief)
        for action_type, params in (*pending, *self.protocol):
            act = DrugTargetAction(action_type=action_type, parameters=params, reasoning=f"protocol step: {action_type.value}")
            if (act.action_type.value, tuple(sorted(act.parameters.items()))) in done_keys:
                continue
            if ACTION_TABLE[action_type].cost >= obs.credits_remaining:
                continue
            return act
        return _honest_report(obs, "protocol complete")

    def follow_ups(self, obs: ValidationObservation) -> tuple[tuple[ActionType, dict], ...]:
        """Extra investigations once the protocol is done (default: none)."""
        return ()


class HeuristicPolicy(ProtocolPolicy):
    """A sensible scientist: disease linkage, tractability (incl. allosteric sites and recent
    literature), safety, selectivity, clinical precedent, then translation experiments."""

    name = "heuristic"
    protocol = (
        (A.QUERY_EXPRESSION, {"database": "TCGA"}),
        (A.DRUGGABILITY_SCREEN, {"modality": "any"}),
        (A.BINDING_SITE_ANALYSIS, {"include_allosteric": True}),
        (A.LITERATURE_SEARCH, {"since_year": 2013}),
        (A.TOXICITY_PANEL, {}),
        (A.OFF_TARGET_SCREEN, {}),
        (A.CRISPR_KNOCKOUT, {"cell_lines": "altered"}),
        (A.IN_VITRO_ASSAY, {}),
        (A.CLINICAL_TRIAL_LOOKUP, {}),
    )

    def follow_ups(self, obs: ValidationObservation) -> tuple[tuple[ActionType, dict], ...]:
        """When exactly one gate fails, it gets its second, independent readout: one assay can
        mislead (IC50 misses differentiation and immune mechanisms; expression is not dependency)."""
        b = assess(obs.dossier)
        failing = [g for g, p in b.pass_prob.items() if p < FOLLOW_UP_BELOW]
        second = {"translation": (A.IN_VIVO_MODEL, {"model": "PDX"}),
                  "linkage": (A.DIFFERENTIAL_EXPRESSION, {"comparison": "altered_vs_unaltered"}),
                  "tractability": (A.DRUGGABILITY_SCREEN, {"modality": "antibody"})}
        if len(failing) == 1 and failing[0] in second:
            return (second[failing[0]],)
        return ()


class ExpressionOnlyPolicy(ProtocolPolicy):
    """The naive investigator: reads expression only, then reports its belief."""

    name = "expression_only"
    protocol = (
        (A.QUERY_EXPRESSION, {"database": "TCGA"}),
        (A.DIFFERENTIAL_EXPRESSION, {"comparison": "altered_vs_unaltered"}),
    )
    stop_logit = float("inf")


# Cheapest action that covers each dimension, with the parameters a careful scientist would use.
_ORACLE_ACTION: dict[EvidenceDimension, tuple[ActionType, dict]] = {
    EvidenceDimension.EXPRESSION: (A.QUERY_EXPRESSION, {"database": "TCGA"}),
    EvidenceDimension.PATHWAY: (A.PATHWAY_ENRICHMENT, {}),
    EvidenceDimension.STRUCTURE: (A.BINDING_SITE_ANALYSIS, {"include_allosteric": True}),
    EvidenceDimension.DRUGGABILITY: (A.DRUGGABILITY_SCREEN, {"modality": "any"}),
    EvidenceDimension.CLINICAL: (A.CLINICAL_TRIAL_LOOKUP, {}),
    EvidenceDimension.TOXICITY: (A.TOXICITY_PANEL, {}),
    EvidenceDimension.OFF_TARGET: (A.OFF_TARGET_SCREEN, {}),
    EvidenceDimension.STRATIFICATION: (A.PATIENT_STRATIFICATION, {}),
    EvidenceDimension.LITERATURE: (A.LITERATURE_SEARCH, {"since_year": 2013}),
    EvidenceDimension.DEPENDENCY: (A.CRISPR_KNOCKOUT, {"cell_lines": "altered"}),
    EvidenceDimension.BIOMARKER: (A.BIOMARKER_CORRELATION, {}),
    EvidenceDimension.IN_VITRO: (A.IN_VITRO_ASSAY, {}),
    EvidenceDimension.IN_VIVO: (A.IN_VIVO_MODEL, {}),
    EvidenceDimension.EXPERT: (A.REQUEST_EXPERT_REVIEW, {}),
}


def oracle_plan(truth: Any) -> list[DrugTargetAction]:
    """Investigate every key dimension once, cheaply, prerequisites first; then report correctly.

    ``truth`` is the environment's ``oracle_view()`` (key dimensions, required parameters, correct decision).
    """
    profile = truth
    planned: list[tuple[ActionType, dict]] = []
    covered: set[EvidenceDimension] = set()

    def add(dim: EvidenceDimension) -> None:
        if dim in covered:
            return
        at, params = _ORACLE_ACTION[dim]
        params = {**params, **profile.required_parameters.get(at, {})}
        prereq = ACTION_TABLE[at].soft_prereq
        if prereq and not covered.intersection(prereq):
            add(prereq[0])
        covered.add(dim)
        planned.append((at, params))

    for dim in profile.key_evidence_dimensions:
        add(dim)
    plan = [DrugTargetAction(action_type=a, parameters=p, reasoning=f"investigate key dimension via {a.value}") for a, p in planned]
    plan.append(_submit(profile.correct_decision, 0.95, "all key evidence dimensions investigated"))
    return plan


class OraclePolicy(Policy):
    """Reads the hidden truth: investigates the key dimensions cheaply and answers right with
    confidence 0.95. An upper bound, and the teacher for SFT warm-start."""

    name = "oracle"
    needs_truth = True

    def __init__(self) -> None:
        self._plans: list[list[DrugTargetAction]] = []

    def reset(self, batch_size: int = 1, seeds: Optional[Sequence[int]] = None) -> None:
        self._plans = [[] for _ in range(batch_size)]

    def observe_truth(self, slot: int, truth: Any) -> None:
        while len(self._plans) <= slot:
            self._plans.append([])
        self._plans[slot] = oracle_plan(truth)

    def act(self, observations: Sequence[ValidationObservation]) -> list[DrugTargetAction]:
        out = []
        for i, obs in enumerate(observations):
            plan = self._plans[i] if i < len(self._plans) else []
            if not plan:  # an IndexError before: the episode loops brief it after each reset, a hand-made loop may not
                raise ConfigError(f"the oracle has no truth for slot {i}: call drugenv.agents.base.brief(policy, {i}, env) "
                                  "after each reset (the episode loops do)")
            out.append(plan[min(obs.step_count, len(plan) - 1)])
        return out


BASELINES: dict[str, type[Policy]] = {
    "random": RandomPolicy,
    "heuristic": HeuristicPolicy,
    "expression_only": ExpressionOnlyPolicy,
    "oracle": OraclePolicy,
}

__all__ = ["BASELINES", "ExpressionOnlyPolicy", "HeuristicPolicy", "OraclePolicy", "ProtocolPolicy", "RandomPolicy", "oracle_plan"]
