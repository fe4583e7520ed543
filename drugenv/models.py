"""Public data models: what an agent sends (``DrugTargetAction``) and sees (``ValidationObservation``).

Nothing here holds hidden truth; that lives in ``drugenv.simulator.latent`` alone. Field
descriptions are the single source for the server's JSON schema, the LLM prompt and TRL tool schemas.
"""

from __future__ import annotations

import copy
import json
import operator
from typing import Any, Literal, Optional, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from drugenv.actions import ActionType, parse_parameters

Decision = Literal["go", "no_go"]
M = TypeVar("M", bound=BaseModel)

_set = object.__setattr__


def trusted(cls: type[M], **values: Any) -> M:
    """An instance of ``cls`` from values the simulator built itself, without validation.

    The hot path of a step builds a handful of models from values of their declared types; pydantic's
    validation (or ``model_construct``, which walks every field's default) re-checked them each time.
    The caller passes every field, in declaration order (serialization follows that order), as the
    validated value would be: fresh containers, enums as enums. Input from outside (actions, requests)
    is validated where it enters (``rules.parse_action``, the server); ``tests/simulator/test_trusted.py``
    checks that what this builds equals what validation builds.
    """
    return trusted_from(cls, values)  # values is this call's own dict


def trusted_from(cls: type[M], values: dict[str, Any]) -> M:
    """``trusted(cls, **values)`` that keeps ``values`` itself as the instance's ``__dict__`` (the
    caller hands it over): for a record rebuilt from another's fields, unpacking them into keyword
    arguments copies the dict again (half the cost of building an observation)."""
    obj = cls.__new__(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


_READ_ONLY = ("is read-only: the environment shares its findings, history entries and outputs with every later "
              "observation; edit a copy (dict(...), list(...), or obs.model_copy(deep=True))")


class ReadOnlyDict(dict):
    """A dict that refuses changes (``TypeError``): an observation's readouts and parameters.

    A step hands out fresh observation containers over records it shares between observations
    (copying them all was ~75% of a step); an edit to a shared readout would have reached every later
    observation. Reading, equality, ``json`` and pydantic serialization are a dict's. ``copy.copy`` and
    ``copy.deepcopy`` (so ``model_copy(deep=True)``) give plain, editable dicts; pickling keeps it read-only.
    """

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"this {type(self).__name__} {_READ_ONLY}")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v, memo) for k, v in self.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        return ReadOnlyDict, (dict(self),)


class ReadOnlyList(list):
    """A list that refuses changes (``TypeError``): a list inside an observation's readouts (see ``ReadOnlyDict``)."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"this {type(self).__name__} {_READ_ONLY}")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = append = clear = extend = insert = pop = remove = reverse = sort = _refuse

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [copy.deepcopy(v, memo) for v in self]

    def __reduce__(self) -> tuple[Any, ...]:
        return ReadOnlyList, (list(self),)


def read_only(value: Any) -> Any:
    """``value`` with every dict and list in it, at any depth, made ``ReadOnlyDict`` / ``ReadOnlyList`` (a copy;
    other values as they are)."""
    cls = value.__class__
    if cls is dict:
        return ReadOnlyDict({k: read_only(v) for k, v in value.items()})
    if cls is list:
        return ReadOnlyList([read_only(v) for v in value])
    return value


_PARAMS_JSON = json.JSONEncoder(sort_keys=True)
"""``json.dumps(x, sort_keys=True)`` without building an encoder per call (same text)."""
_PARAMS_KEYS: dict[tuple, str] = {}
_PARAMS_KEYS_MAX = 4096


def parameters_key(parameters: dict[str, Any]) -> str:
    """``json.dumps(parameters, sort_keys=True)``, memoised: the second half of ``DrugTargetAction.key()``.

    A step keys its action and the vector env keys each new finding, from the few parameter sets an
    action type has; encoding one was ~2 us, a lookup is a fraction. The memo key holds the items and
    each value's type (``True`` and ``1`` hash alike but encode differently), so a hit is the text the
    encoder gives. Parameters holding a float (``-0.0`` equals ``0.0`` but encodes apart) or an
    unhashable value are encoded each time.
    """
    types = tuple(map(type, parameters.values()))
    if float in types:
        return _PARAMS_JSON.encode(parameters)
    try:
        key = (tuple(parameters.items()), types)
        text = _PARAMS_KEYS.get(key)
    except TypeError:
        return _PARAMS_JSON.encode(parameters)
    if text is None:
        text = _PARAMS_JSON.encode(parameters)
        if len(_PARAMS_KEYS) >= _PARAMS_KEYS_MAX:
            _PARAMS_KEYS.clear()
        _PARAMS_KEYS[key] = text
    return text


_CANONICAL: dict[tuple, dict[str, Any]] = {}
_CANONICAL_MAX = 4096


def _canonical_parameters(action_type: ActionType, parameters: dict[str, Any]) -> dict[str, Any]:
    """``parse_parameters(...).model_dump(mode="json")``, memoised on the exact input (a fresh dict each call).

    The memo key holds each value's type (``True``, ``1`` and ``1.0`` are different inputs) and a
    float's exact bits, numpy's floats included (``-0.0`` is not ``0.0``: keyed by value, whichever came
    first was the answer for both); invalid input raises and is never stored.
    """
    try:
        key = (action_type, *[(k, x.__class__, float.hex(x) if isinstance(x, float) else x) for k, x in parameters.items()])
        hit = _CANONICAL.get(key)
    except TypeError:  # an unhashable value: it fails validation below anyway
        return parse_parameters(action_type, parameters).model_dump(mode="json")
    if hit is None:
        hit = parse_parameters(action_type, parameters).model_dump(mode="json")
        if len(_CANONICAL) >= _CANONICAL_MAX:
            _CANONICAL.clear()
        _CANONICAL[key] = hit
    return dict(hit)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


MAX_REASONING_CHARS = 2000
"""Longest ``DrugTargetAction.reasoning``; text made into an action (a parse failure's message, a dashboard
step) is cut to it."""


class DrugTargetAction(_Model):
    """One step of the agent: an investigation, a meta action, or the final report.

    ``parameters`` are validated against the action type's parameter model (see
    ``drugenv.actions.ACTION_TABLE``) and stored with defaults filled in. Numbers and flags are
    strictly typed: ``confidence`` takes a JSON number (``1`` is 1.0), never ``true`` or ``"0.5"``.
    An action is frozen: the environment trusts a validated action, so a field set afterwards (a
    confidence of 10, an unknown action type) would skip these checks. To change one, build a new
    action (or pass a dict); pydantic's ``model_construct`` and ``model_copy(update=...)`` do not
    validate, and neither does changing ``parameters`` in place.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    action_type: ActionType = Field(..., description="Which action to take (see the action table).")
    # validate_default: omitted parameters get their defaults filled in too (see _typed_parameters).
    parameters: dict[str, Any] = Field(
        default_factory=dict, validate_default=True, description="Action-specific parameters; unknown keys are rejected.",
        json_schema_extra={"type": ["object", "null"]},  # null is taken as {} (_none_is_empty): the schema says so
    )
    reasoning: str = Field("", max_length=MAX_REASONING_CHARS, description="Why this action, in a sentence or two.")
    final_decision: Optional[Decision] = Field(
        None, description="submit_validation_report only: 'go' or 'no_go'."
    )
    # strict: a lax float would score ``true`` as confidence 1.0 and accept the string "0.5".
    confidence: Optional[float] = Field(
        None, ge=0.0, le=1.0, strict=True, allow_inf_nan=False,
        description="submit_validation_report only: probability the decision is right, 0-1.",
    )

    @field_validator("parameters", mode="before")
    @classmethod
    def _none_is_empty(cls, v: Any) -> Any:
        return {} if v is None else v

    @field_validator("confidence", mode="before")
    @classmethod
    def _numpy_scalar_as_python(cls, v: Any) -> Any:
        # What the client sends over the wire (JSON): np.float64(0.7) is 0.7, and np.True_ is true, which a
        # JSON number field refuses (strict float validation took np.True_ as 1.0; the wire audit).
        return v.item() if isinstance(v, np.generic) else v

    @field_validator("parameters")
    @classmethod
    def _typed_parameters(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # A field validator (not a model one) so parameter errors carry the "parameters" prefix and
        # are reported beside errors in other fields. Without a valid action_type there is no
        # parameter model to check against; that field's own error says so.
        if "action_type" not in info.data:
            return v
        # Normalise to the canonical form so identical queries compare equal.
        return _canonical_parameters(info.data["action_type"], v)

    def key(self) -> tuple[str, str]:
        """(action type, canonical parameters) — two actions with the same key are redundant."""
        return self.action_type.value, parameters_key(self.parameters)


class IntermediateOutput(_Model):
    """Typed result of the latest step."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # shared between observations: see ReadOnlyDict

    action_type: Optional[ActionType] = Field(None, description="Action that produced it (None after reset).")
    dimension: Optional[str] = Field(None, description="Evidence dimension investigated.")
    status: Literal["ok", "no_data", "blocked", "info"] = Field(
        "info", description="ok: data returned; no_data: the database had no coverage; blocked: a hard rule refused the action."
    )
    summary: str = Field("", description="One-line human readable result.")
    data: dict[str, Any] = Field(default_factory=dict, description="Readouts with units in the key names.")
    cost: int = Field(0, description="Credits charged for this step.")


class Finding(_Model):
    """One filed result in the dossier."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # shared between observations: see ReadOnlyDict

    step: int
    action_type: ActionType
    parameters: dict[str, Any] = Field(default_factory=dict)
    summary: str
    data: dict[str, Any] = Field(default_factory=dict)


_STEP = operator.attrgetter("step")

FINDING_SECTIONS: tuple[str, ...] = ("expression", "protein", "clinical", "safety", "literature", "experimental")
"""The dossier's sections of findings (``EvidenceDossier``'s list fields of ``Finding``), in display order."""


class EvidenceDossier(_Model):
    """Everything learned so far, by section. The dossier is the agent's memory."""

    expression: list[Finding] = Field(default_factory=list)
    protein: list[Finding] = Field(default_factory=list)
    clinical: list[Finding] = Field(default_factory=list)
    safety: list[Finding] = Field(default_factory=list)
    literature: list[Finding] = Field(default_factory=list)
    experimental: list[Finding] = Field(default_factory=list)
    flagged_red_flags: list[str] = Field(default_factory=list)

    def all_findings(self) -> list[Finding]:
        out = [*self.expression, *self.protein, *self.clinical, *self.safety, *self.literature, *self.experimental]
        return sorted(out, key=_STEP)


class HistoryEntry(_Model):
    """One past step, summarised."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # shared between observations: see ReadOnlyDict

    step: int
    action_type: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    summary: str
    cost: int
    violations: list[str] = Field(default_factory=list)


class RuleViolation(_Model):
    """A broken rule. Hard violations block the action; soft ones penalise but execute it."""

    model_config = ConfigDict(extra="forbid", frozen=True)  # shared between observations: see ReadOnlyDict

    rule: str = Field(..., description="Rule id, e.g. 'unaffordable', 'redundant', 'prerequisite'.")
    severity: Literal["hard", "soft"]
    message: str


class ValidationObservation(_Model):
    """What the agent sees after ``reset`` and each ``step``."""

    target_gene: str
    disease_context: str = Field(..., description="Disease area, e.g. 'oncology / solid tumour'.")
    indication: str
    credits_remaining: int
    credits_total: int
    step_count: int = 0
    max_steps: int
    dossier: EvidenceDossier = Field(default_factory=EvidenceDossier)
    pipeline_history: list[HistoryEntry] = Field(default_factory=list)
    latest_output: IntermediateOutput = Field(default_factory=IntermediateOutput)
    rule_violations: list[RuleViolation] = Field(default_factory=list)
    step_reward_breakdown: dict[str, float] = Field(default_factory=dict)
    legal_actions: list[ActionType] = Field(default_factory=list, description="Actions allowed now (affordable, episode running).")
    done: bool = False
    reward: Optional[float] = None
    metadata: dict[str, Any] = Field(default_factory=dict, description="Public episode metadata (episode id, seed, termination reason).")


class DrugTargetState(_Model):
    """Visible episode state (OpenEnv ``state``): bookkeeping only, never the hidden profile."""

    episode_id: Optional[str] = None
    step_count: int = 0
    seed: Optional[int] = None
    target_gene: Optional[str] = None
    indication: Optional[str] = None
    credits_remaining: int = 0
    credits_total: int = 0
    done: bool = False
    cumulative_reward: float = 0.0
    termination_reason: Optional[str] = None


__all__ = [
    "Decision",
    "DrugTargetAction",
    "DrugTargetState",
    "EvidenceDossier",
    "FINDING_SECTIONS",
    "Finding",
    "HistoryEntry",
    "IntermediateOutput",
    "MAX_REASONING_CHARS",
    "ReadOnlyDict",
    "ReadOnlyList",
    "RuleViolation",
    "ValidationObservation",
    "parameters_key",
    "read_only",
    "trusted",
    "trusted_from",
]
