"""``DrugEnvVector``: DrugEnv for classic RL (Box observation, Discrete actions).

The features and the action catalogue are pure functions of the visible observation
(``vector_features``, ``VECTOR_ACTIONS``), so a trained policy can be evaluated on the core
environment directly (``drugenv.training.ppo.RLModulePolicy``; any agent of this env through
``drugenv.gym_envs.policies.GymAgentPolicy``).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

import numpy as np
from gymnasium import spaces

from drugenv.actions import ACTION_TABLE, EVIDENCE_ACTIONS, ActionType, EvidenceDimension
from drugenv.agents.belief import GATES, Assessment, Belief
from drugenv.agents.findings_fold import FindingsFold
from drugenv.gym_envs.base import DrugEnvBase
from drugenv.models import FINDING_SECTIONS, DrugTargetAction, Finding, ValidationObservation, parameters_key
from drugenv.simulator.rules import UNPARSEABLE_ACTION_TYPE, utf8_text

A = ActionType

CONFIDENCE_BINS: tuple[float, ...] = (0.55, 0.65, 0.75, 0.85, 0.95)
"""Confidences a report may state, one submit action each per decision."""
GATE_SCALE = 3.0
"""Gate log-odds are divided by this and clipped to [-1, 1] (the strongest gate is ±3)."""
LOGIT_SCALE = 4.0
"""The summed belief logit enters as tanh(logit / LOGIT_SCALE)."""
MAX_CREDITS = 50.0
"""credits_total is divided by this (budgets are 30-45 credits)."""


@dataclass(frozen=True)
class VectorAction:
    """One discrete action: a concrete ``DrugTargetAction``."""

    name: str
    action_type: ActionType
    parameters: tuple[tuple[str, Any], ...] = ()
    final_decision: Optional[str] = None
    confidence: Optional[float] = None

    def to_action(self) -> DrugTargetAction:
        return DrugTargetAction(action_type=self.action_type, parameters=dict(self.parameters),
                                final_decision=self.final_decision, confidence=self.confidence,
                                reasoning=f"vector policy: {self.name}")

    def key(self) -> tuple[str, str]:
        """Canonical (action, parameters) key, as the rule engine compares calls."""
        return self.to_action().key()


def _ev(action_type: ActionType, name: Optional[str] = None, **params: Any) -> VectorAction:
    return VectorAction(name or action_type.value, action_type, tuple(sorted(params.items())))


EVIDENCE_VECTOR_ACTIONS: tuple[VectorAction, ...] = (
    _ev(A.QUERY_EXPRESSION),
    _ev(A.DIFFERENTIAL_EXPRESSION),
    _ev(A.PATHWAY_ENRICHMENT),
    _ev(A.COEXPRESSION_NETWORK),
    _ev(A.PROTEIN_STRUCTURE_LOOKUP),
    _ev(A.BINDING_SITE_ANALYSIS, "binding_site_analysis(orthosteric)", include_allosteric=False),
    _ev(A.BINDING_SITE_ANALYSIS, "binding_site_analysis(allosteric)", include_allosteric=True),
    _ev(A.DRUGGABILITY_SCREEN, "druggability_screen(small_molecule)", modality="small_molecule"),
    _ev(A.DRUGGABILITY_SCREEN, "druggability_screen(any)", modality="any"),
    _ev(A.PROTEIN_INTERACTION_NETWORK),
    _ev(A.CLINICAL_TRIAL_LOOKUP),
    _ev(A.TOXICITY_PANEL),
    _ev(A.OFF_TARGET_SCREEN),
    _ev(A.PATIENT_STRATIFICATION),
    _ev(A.LITERATURE_SEARCH, "literature_search(all_years)", since_year=None),
    _ev(A.LITERATURE_SEARCH, "literature_search(since_2013)", since_year=2013),
    _ev(A.EVIDENCE_SYNTHESIS),
    _ev(A.COMPETITOR_LANDSCAPE),
    _ev(A.CRISPR_KNOCKOUT, "crispr_knockout(panel)", cell_lines="panel"),
    _ev(A.CRISPR_KNOCKOUT, "crispr_knockout(altered)", cell_lines="altered"),
    _ev(A.BIOMARKER_CORRELATION),
    _ev(A.IN_VITRO_ASSAY),
    _ev(A.IN_VIVO_MODEL),
    _ev(A.REQUEST_EXPERT_REVIEW),
)
"""Evidence actions (default parameters plus the variants that change what is learned).
``flag_red_flag`` is left out: it gathers no evidence."""
_UNLISTED = sorted(a.value for a in set(EVIDENCE_ACTIONS) - {v.action_type for v in EVIDENCE_VECTOR_ACTIONS})
if _UNLISTED:  # a new action of the table would be one PPO can never take, without a word
    raise RuntimeError(f"drugenv/gym_envs/vector_env.py: EVIDENCE_VECTOR_ACTIONS lists no entry for {_UNLISTED}, evidence "
                       "actions of drugenv.actions.ACTION_TABLE; add one (a new id: the vector env's version changes)")

SUBMIT_VECTOR_ACTIONS: tuple[VectorAction, ...] = tuple(
    VectorAction(f"submit({d}, {c:.2f})", A.SUBMIT_VALIDATION_REPORT, (), d, c)
    for d in ("go", "no_go") for c in CONFIDENCE_BINS
)
VECTOR_ACTIONS: tuple[VectorAction, ...] = EVIDENCE_VECTOR_ACTIONS + SUBMIT_VECTOR_ACTIONS
"""The Discrete action space, in order: index i is ``VECTOR_ACTIONS[i]``."""

_EVIDENCE_KEYS = tuple(a.key() for a in EVIDENCE_VECTOR_ACTIONS)
_DECODED: tuple[DrugTargetAction, ...] = tuple(a.to_action() for a in VECTOR_ACTIONS)
"""``VECTOR_ACTIONS[i].to_action()``, validated once: the environment only reads the actions it is given."""
_DIMS = tuple(EvidenceDimension)
_STEP = operator.attrgetter("step")

FEATURE_NAMES: tuple[str, ...] = (
    ("credits_fraction", "step_fraction", "credits_total", "last_blocked", "last_soft_violation", "belief_logit", "belief_p_go")
    + tuple(f"gate_logodds/{g}" for g in GATES)
    + tuple(f"gate_seen/{g}" for g in GATES)
    + tuple(f"investigated/{d.value}" for d in _DIMS)
    + tuple(f"done/{a.name}" for a in EVIDENCE_VECTOR_ACTIONS)
)
"""Name of each observation entry, in order."""
OBS_DIM = len(FEATURE_NAMES)


# Where each part of the dossier's features sits in ``_DossierFeatures.x`` (entry 5 of the observation
# is its entry 0): tanh(belief logit / LOGIT_SCALE), P(go), each gate's log-odds, each gate's seen flag,
# then the dimension and call flags.
_LOG_ODDS_INDEX = {g: 2 + i for i, g in enumerate(GATES)}
_SEEN_INDEX = {g: 2 + len(GATES) + i for i, g in enumerate(GATES)}
_DIM_INDEX = {d: 2 + 2 * len(GATES) + i for i, d in enumerate(_DIMS)}
_DIM_INDEX_OF_ACTION = {a: _DIM_INDEX[spec.dimension] for a, spec in ACTION_TABLE.items() if spec.dimension in _DIM_INDEX}
"""The dimension flag an action's finding sets (none for an action of no dimension, or of one not shown)."""
_CALL_INDEX = {k: 2 + 2 * len(GATES) + len(_DIMS) + i for i, k in enumerate(_EVIDENCE_KEYS)}
_DOSSIER_DIM = 2 + 2 * len(GATES) + len(_DIMS) + len(_EVIDENCE_KEYS)
assert len(_CALL_INDEX) == len(_EVIDENCE_KEYS), "two evidence actions with one call key"
assert OBS_DIM == 5 + _DOSSIER_DIM


def _set_gate(x: np.ndarray, belief: Assessment, gate: str) -> None:
    """Set ``gate``'s entries: its log-odds / GATE_SCALE, clipped, and its seen flag."""
    x[_LOG_ODDS_INDEX[gate]] = max(-1.0, min(1.0, belief.gate_log_odds(gate) / GATE_SCALE))
    x[_SEEN_INDEX[gate]] = float(belief.seen[gate])


def _set_p_go(x: np.ndarray, belief: Assessment) -> None:
    """Set the entries of the whole belief: tanh(logit / LOGIT_SCALE) and P(go)."""
    p_go, logit = belief.p_go_and_logit()  # P(go) once (``logit`` and ``p_go`` each compute it)
    x[0] = float(np.tanh(logit / LOGIT_SCALE))
    x[1] = p_go


@dataclass
class _DossierFeatures:
    """Entries 5 onwards of ``vector_features`` (``x``, float32 as ``np.asarray`` converts them) for the
    findings read so far, and the belief they come from: the state of a fold over
    the findings in step order.

    A finding sets its dimension's flag and its call's flag (findings store canonical parameters, so
    its key is ``DrugTargetAction.key()``'s). ``Belief.read`` recomputes at most the one gate the
    finding informs (none when the readings stay as they were, as a repeated query's mostly do), so
    only that gate's entries and P(go)'s are set again."""

    belief: Belief
    x: np.ndarray

    @classmethod
    def start(cls) -> "_DossierFeatures":
        state = cls(Belief.start(), np.zeros(_DOSSIER_DIM, dtype=np.float32))
        for gate in GATES:
            _set_gate(state.x, state.belief.assessment, gate)
        _set_p_go(state.x, state.belief.assessment)
        return state

    def copy(self) -> "_DossierFeatures":
        return _DossierFeatures(self.belief.copy(), self.x.copy())

    def read(self, f: Finding) -> None:
        d = f.__dict__
        at = d["action_type"]
        x = self.x
        dim = _DIM_INDEX_OF_ACTION.get(at)
        if dim is not None:
            x[dim] = 1.0
        call = _CALL_INDEX.get((at.value, parameters_key(d["parameters"])))
        if call is not None:
            x[call] = 1.0
        gate = self.belief.read(f)
        if gate is not None:
            _set_gate(x, self.belief.assessment, gate)
            _set_p_go(x, self.belief.assessment)


# Everything but the first five entries depends on the findings alone, and a step adds at most one
# finding: it is kept per sequence of findings and extended by the new one (``agents.findings_fold``).
# The fold carries its own belief (the same reads as ``assess_findings``'s fold) rather than asking
# ``assess_findings`` per new finding, which kept, checked and copied a second state.
_DOSSIER_FEATURES = FindingsFold(_DossierFeatures.start, _DossierFeatures.read, _DossierFeatures.copy,
                                 lambda state, findings: state.x)


def _head(obs: ValidationObservation) -> list[float]:
    """Entries 0-4 of ``vector_features``: budget, step and the last step's violations."""
    rules = [v.severity for v in obs.rule_violations]
    # Each entry is clipped to [-1, 1] as a Python float (np.clip's value: they are ratios of integers,
    # never NaN, and float32's rounding keeps ±1 and the order); the kept entries are in range as they
    # are set (tanh, a probability, clipped log-odds, 0/1 flags). The kept ones are already float32, and
    # concatenate converts these five as np.asarray would (float64 to float32, one rounding).
    return [
        max(-1.0, min(1.0, obs.credits_remaining / max(1, obs.credits_total))),
        max(-1.0, min(1.0, obs.step_count / max(1, obs.max_steps))),
        max(-1.0, min(1.0, obs.credits_total / MAX_CREDITS)),
        float("hard" in rules),
        float("soft" in rules),
    ]


def vector_features(obs: ValidationObservation) -> np.ndarray:
    """The observation vector of ``obs`` (float32, shape ``(OBS_DIM,)``, every entry in [-1, 1])."""
    return np.concatenate((_head(obs), _DOSSIER_FEATURES(obs.dossier.all_findings())), dtype=np.float32)


_START_FEATURES = _DossierFeatures.start()
"""The features of an empty dossier: every episode's first state (only ever copied)."""


class EpisodeFeatures:
    """``vector_features(obs)`` for one environment's observations in step order (the vector env's
    encoder), made by reading only the findings filed since the last call into its own
    ``_DossierFeatures``.

    ``vector_features`` looks the dossier's findings up in a cache shared by every caller, so each step
    it sorts all findings, keys them and checks every kept one (``FindingsFold``), then copies the kept
    state before reading the new finding (83k instructions per observation against 67k here,
    ``benchmarks/encode_vector.py``), more as the episode grows. Here
    the state belongs to one episode: a step compares each section's length and its last finding seen
    (so another episode's dossier, or a reset's empty one, starts afresh), reads the new findings in
    step order into the state in place and hands out a copy (``np.concatenate``). Records are trusted
    as the simulator promises (written once, never changed), as ``EpisodeUserTurn`` trusts them."""

    def __init__(self) -> None:
        self._state: Optional[_DossierFeatures] = None
        self._counts = [0] * len(FINDING_SECTIONS)
        self._last: list[Optional[Finding]] = [None] * len(FINDING_SECTIONS)

    def __call__(self, obs: ValidationObservation) -> np.ndarray:
        sections = obs.dossier.__dict__
        state, counts, last = self._state, self._counts, self._last
        new: list[Finding] = []
        if state is not None:
            for i, name in enumerate(FINDING_SECTIONS):
                findings, seen = sections[name], counts[i]
                if len(findings) < seen or (seen and findings[seen - 1] is not last[i]):
                    state = None  # not this episode's next observation
                    break
                if len(findings) > seen:
                    new += findings[seen:]
        if state is None:  # a copy of the kept start (~1 us; building one is ~12 us)
            state, new = _START_FEATURES.copy(), obs.dossier.all_findings()
        elif len(new) > 1:
            new.sort(key=_STEP)  # the fold reads findings in step order, as ``all_findings`` lists them
        for f in new:
            state.read(f)
        if new or self._state is not state:
            for i, name in enumerate(FINDING_SECTIONS):
                findings = sections[name]
                counts[i], last[i] = len(findings), (findings[-1] if findings else None)
        self._state = state
        return np.concatenate((_head(obs), state.x), dtype=np.float32)


class DrugEnvVector(DrugEnvBase):
    """DrugEnv with a feature-vector observation and a discrete action catalogue, for classic RL.

    ## Description
    The agent validates a drug target (gene × indication): it spends credits on noisy simulated
    queries whose outputs come from a hidden target profile, then submits a go / no-go report with a
    confidence. The dossier is summarised into features: budget, which dimensions were looked at,
    and the public go/no-go gates of ``drugenv.agents.belief.assess`` as log-odds.

    ## Action Space
    ``Discrete(34)``: ``VECTOR_ACTIONS[i]``.

    | index  | action                                                                                   |
    |--------|------------------------------------------------------------------------------------------|
    | 0-23   | evidence actions (``EVIDENCE_VECTOR_ACTIONS``): every evidence action with default parameters, plus binding_site_analysis include_allosteric False/True, druggability_screen small_molecule/any, literature_search all years/since 2013, crispr_knockout panel/altered |
    | 24-28  | submit go with confidence 0.55, 0.65, 0.75, 0.85, 0.95                                   |
    | 29-33  | submit no_go with confidence 0.55, 0.65, 0.75, 0.85, 0.95                                |

    Costs and soft prerequisites are those of ``drugenv.actions.ACTION_TABLE``.
    Anything that is not an integer in ``[0, 34)`` is an ``invalid_action`` violation: a blocked step
    with the hard-violation penalty, and the episode goes on.

    ## Observation Space
    ``Box(-1, 1, (59,), float32)`` (``FEATURE_NAMES``):

    | Num   | Observation                                         | Min | Max |
    |-------|-----------------------------------------------------|-----|-----|
    | 0     | credits remaining / credits total                   | 0   | 1   |
    | 1     | step / max_steps                                    | 0   | 1   |
    | 2     | credits total / 50                                  | 0   | 1   |
    | 3     | last step was blocked (hard violation)              | 0   | 1   |
    | 4     | last step broke a soft rule                         | 0   | 1   |
    | 5     | tanh(belief logit / 4)                              | -1  | 1   |
    | 6     | belief P(go)                                        | 0   | 1   |
    | 7-13  | gate log-odds / 3, clipped (tractability, linkage, safety, selectivity, clinical, translation, expert) | -1 | 1 |
    | 14-20 | gate seen flags (same order)                        | 0   | 1   |
    | 21-34 | dimension investigated flags (``EvidenceDimension`` order) | 0 | 1 |
    | 35-58 | evidence action i already run (same parameters)     | 0   | 1   |

    ## Rewards
    The core environment's reward, unchanged (``RewardConfig``): per step novelty + coherence −
    credit cost − violations + shaping; on the last step the terminal terms (decision score,
    evidence coverage, credit efficiency, reasoning coherence, hard penalties).
    ``info["reward_terms"]`` holds the signed breakdown.

    ## Starting State
    A scenario from the configured suite (default ``procedural-train``), tier and core seed drawn
    with ``self.np_random``: all features 0 except credits fraction 1, credits total and the
    belief's prior before any finding (``belief_logit`` ≈ -0.002, ``belief_p_go`` ≈ 0.498).

    ## Episode End
    1. Termination: a report is submitted.
    2. Termination: credits run out without a report.
    3. Truncation: the step cap (``SimParams.max_steps``, 30) is reached without a report.

    ## Arguments
    Constructor config dict (RLlib's ``env_config``) or keyword arguments; see
    ``drugenv.gym_envs.base`` for the table: ``suite``, ``scenario``, ``difficulty``,
    ``curriculum``, ``reward_config``, ``sim_params``, ``seal``. ``reset(options=...)`` may override
    ``suite``, ``scenario``, ``difficulty`` and ``episode_seed`` for one episode.

    >>> import gymnasium as gym
    >>> import drugenv.gym_envs
    >>> env = gym.make("DrugEnv/Vector-v0", scenario="egfr_nsclc_viable")
    >>> obs, info = env.reset(seed=123)
    >>> obs.shape, env.action_space
    ((59,), Discrete(34))

    ## Version History
    * v0: initial version.
    """

    def __init__(self, config: Optional[Mapping[str, Any]] = None, render_mode: Optional[str] = None, **kwargs: Any):
        super().__init__(config, render_mode=render_mode, **kwargs)
        self.action_space = spaces.Discrete(len(VECTOR_ACTIONS))
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(OBS_DIM,), dtype=np.float32)
        self._features = EpisodeFeatures()

    def _encode(self, obs: ValidationObservation) -> np.ndarray:
        return self._features(obs)

    def _decode(self, action: Any) -> Union[DrugTargetAction, dict[str, Any]]:
        return decode_vector_action(action)


def decode_vector_action(action: Any) -> Union[DrugTargetAction, dict[str, Any]]:
    """The vector env's action decoder: ``VECTOR_ACTIONS[action]`` for an integer in the action space (a
    Python or numpy integer, or a 0-d integer array, as RLlib sends); anything else is the core's
    ``invalid_action`` violation, a penalised, blocked step, as a malformed action is in every DrugEnv
    interface. (``int()`` took 3.7 as 3 and ``"3"`` as 3, and an assert let -1 submit a report under
    ``python -O``.)"""
    try:
        # integers only: never a float, a string, a 1-element array, or a bool (True played action 1)
        i = -1 if isinstance(action, (bool, np.bool_)) else operator.index(action)
    except Exception:  # noqa: BLE001 - TypeError, or whatever an object's own __index__ raises: not an action either way
        i = -1
    if 0 <= i < len(VECTOR_ACTIONS):
        return _DECODED[i]
    n = len(VECTOR_ACTIONS)
    try:
        shown = utf8_text(repr(action), 80)
    except Exception:  # noqa: BLE001 - an object whose __repr__ raises is named by its type
        shown = f"of type {type(action).__name__}"
    return {"action_type": UNPARSEABLE_ACTION_TYPE, "reasoning": f"action {shown} is not in Discrete({n}): send an integer 0-{n - 1}"}


__all__ = [
    "CONFIDENCE_BINS",
    "DrugEnvVector",
    "EVIDENCE_VECTOR_ACTIONS",
    "EpisodeFeatures",
    "FEATURE_NAMES",
    "OBS_DIM",
    "SUBMIT_VECTOR_ACTIONS",
    "VECTOR_ACTIONS",
    "VectorAction",
    "decode_vector_action",
    "vector_features",
]
