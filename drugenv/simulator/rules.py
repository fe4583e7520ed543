"""Rule engine: decides whether an action may run, and which soft rules it breaks.

It sees only what the agent could know (credits, what was done before); never the hidden truth.

| rule           | severity | when                                                              | effect                         |
|----------------|----------|-------------------------------------------------------------------|--------------------------------|
| episode_done   | hard     | any action after the episode ended                                | blocked, penalty               |
| invalid_action | hard     | unknown action type, bad or unknown parameters, bad field values  | blocked (no-op step), penalty  |
| unaffordable   | hard     | cost > credits remaining                                          | blocked, penalty               |
| missing_decision | hard   | submit_validation_report without final_decision or confidence    | blocked, penalty + missing_decision_penalty |
| redundant      | soft     | same action with the same canonical parameters as before          | runs (same result), penalty    |
| prerequisite   | soft     | a soft prerequisite of the action table is unmet                  | runs, penalty, lowers coherence (evidence actions) |
| report_fields  | soft     | final_decision or confidence on an action that is not the report  | runs (they are ignored), penalty |

Soft prerequisites are listed once, in ``drugenv.actions.ACTION_TABLE`` (``soft_prereq``,
``needs_any_evidence``): e.g. expression before toxicity_panel, in_vitro before in_vivo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Collection, Mapping, Union

from pydantic import ValidationError

from drugenv.actions import ACTION_TABLE, ActionType, EvidenceDimension
from drugenv.models import DrugTargetAction, RuleViolation, trusted

UNPARSEABLE_ACTION_TYPE = "__unparseable__"
"""What an LLM policy sends when its output did not parse (``drugenv.llm.parsing`` uses this)."""


@dataclass
class RuleCheck:
    """Outcome of checking one action."""

    violations: list[RuleViolation] = field(default_factory=list)
    key: tuple[str, str] = ("", "")
    """The action's ``DrugTargetAction.key()``, computed once per step (redundancy and bookkeeping both need it)."""
    blocked: bool = False
    redundant: bool = False
    prereq_applicable: bool = False
    prereq_met: bool = True

    @property
    def hard(self) -> list[RuleViolation]:
        return [v for v in self.violations if v.severity == "hard"]

    @property
    def soft(self) -> list[RuleViolation]:
        return [v for v in self.violations if v.severity == "soft"]


def _quoted(value: Any, quote: bool = True, limit: int = 60) -> str:
    """``value`` as the message quotes it (its repr, or its text), cut to ``limit`` characters: an
    action's own text comes back in the violation, and in every later observation's history."""
    text = repr(value) if quote else str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _describe_validation_error(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ())) or "action"
        if loc == "action_type" and e.get("type") == "enum":
            valid = ", ".join(a.value for a in ActionType)
            parts.append(f"action_type: {_quoted(e.get('input'))} is not an action (valid: {valid})")
        else:
            parts.append(f"{_quoted(loc, quote=False)}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


def utf8_text(value: Any, limit: int) -> str:
    """``str(value)`` cut to ``limit`` characters, with any lone surrogate written as its escape (``\\ud800``).

    Outside text copied into a record (a parse error quoting a model's reply, an exception's message)
    may hold a lone surrogate, which JSON's ``"\\ud800"`` escape decodes to and UTF-8 cannot encode:
    the observation carrying it, and every later one of its episode, could not be serialized."""
    return str(value)[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


def utf8_encodable(text: str) -> bool:
    """Whether ``text`` has a UTF-8 form (a lone surrogate, which JSON's ``"\\ud800"`` escape decodes to, has none)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_action(raw: Union[DrugTargetAction, Mapping[str, Any]]) -> tuple[DrugTargetAction | None, RuleViolation | None]:
    """Turn a raw action into a validated one, or an ``invalid_action`` violation (never raises)."""
    if isinstance(raw, DrugTargetAction):
        return raw, None
    if not isinstance(raw, Mapping):
        return None, RuleViolation(rule="invalid_action", severity="hard",
                                   message=f"an action must be an object with action_type, got {type(raw).__name__}")
    try:
        raw = dict(raw)  # a caller's Mapping: whatever its own methods raise is a violation too, not the step's crash
    except Exception as err:  # noqa: BLE001
        return None, RuleViolation(rule="invalid_action", severity="hard", message="invalid action: " + utf8_text(err, 300))
    if isinstance(raw.get("action_type"), str) and raw["action_type"] == UNPARSEABLE_ACTION_TYPE:
        # An LLM policy's text that did not parse: its reasoning carries the parse error, which is
        # what the model needs to read next turn (not the list of valid action names).
        return None, RuleViolation(rule="invalid_action", severity="hard",
                                   message=utf8_text(raw.get("reasoning") or "unparseable model output", 300))
    try:
        return DrugTargetAction.model_validate(raw), None
    except ValidationError as err:
        return None, RuleViolation(rule="invalid_action", severity="hard",
                                   message=f"invalid action: {_describe_validation_error(err)}")
    except Exception as err:  # noqa: BLE001 - any malformed payload is a violation, never a crash
        return None, RuleViolation(rule="invalid_action", severity="hard", message="invalid action: " + utf8_text(err, 300))


def _violation(rule: str, severity: str, message: str) -> RuleViolation:
    return trusted(RuleViolation, rule=rule, severity=severity, message=message)


def episode_done() -> RuleViolation:
    """The first hard rule: any action after the episode ended, parseable or not, is this one violation."""
    return _violation("episode_done", "hard", "the episode has ended; call reset() to start a new one")


def check(
    action: DrugTargetAction,
    *,
    credits_remaining: int,
    investigated: Collection[EvidenceDimension],
    past_calls: Collection[tuple[str, str]],
    any_evidence: bool,
) -> RuleCheck:
    """Apply the hard rules, then (if not blocked) the soft rules, to an action of a running episode (the
    environment answers any action after the end with ``episode_done()`` alone, before parsing it)."""
    spec = ACTION_TABLE[action.action_type]
    out = RuleCheck()
    if spec.cost > credits_remaining:
        out.violations.append(_violation(
            "unaffordable", "hard", f"{action.action_type.value} costs {spec.cost} credits but only {credits_remaining} remain"))
        out.blocked = True
        return out
    if action.action_type == ActionType.SUBMIT_VALIDATION_REPORT and (
        action.final_decision is None or action.confidence is None
    ):
        missing = [n for n in ("final_decision", "confidence") if getattr(action, n) is None]
        out.violations.append(_violation(
            "missing_decision", "hard",
            f"submit_validation_report needs {' and '.join(missing)} (final_decision: go|no_go, confidence: 0-1)"))
        out.blocked = True
        return out

    out.key = action.key()
    if out.key in past_calls:
        out.redundant = True
        out.violations.append(_violation(
            "redundant", "soft", f"{action.action_type.value} with these parameters was already run; the result is the same"))
    if action.action_type != ActionType.SUBMIT_VALIDATION_REPORT and (
        action.final_decision is not None or action.confidence is not None
    ):  # said, so that no agent believes it has reported
        out.violations.append(_violation(
            "report_fields", "soft", f"final_decision and confidence belong to submit_validation_report; "
            f"{action.action_type.value} ignores them and no report was made"))
    if spec.soft_prereq or spec.needs_any_evidence:
        out.prereq_applicable = True
        if spec.soft_prereq and not any(d in investigated for d in spec.soft_prereq):
            out.prereq_met = False
            need = " or ".join(d.value for d in spec.soft_prereq)
            out.violations.append(_violation(
                "prerequisite", "soft", f"{action.action_type.value} is usually preceded by {need} evidence"))
        elif spec.needs_any_evidence and not any_evidence:
            out.prereq_met = False
            out.violations.append(_violation(
                "prerequisite", "soft", f"{action.action_type.value} needs some evidence gathered first"))
    return out


_LEGAL_BY_CREDITS = [tuple(a for a, s in ACTION_TABLE.items() if s.cost <= c)
                     for c in range(max(s.cost for s in ACTION_TABLE.values()) + 1)]
"""Affordable actions for each credit balance up to the dearest action's cost (every action above it)."""


def legal_actions(*, done: bool, credits_remaining: int) -> list[ActionType]:
    """Actions a hard rule would not block (submit is always legal while the episode runs)."""
    if done or credits_remaining < 0:  # every action costs >= 0 credits
        return []
    return list(_LEGAL_BY_CREDITS[min(credits_remaining, len(_LEGAL_BY_CREDITS) - 1)])


__all__ = [
    "RuleCheck", "UNPARSEABLE_ACTION_TYPE", "check", "legal_actions", "parse_action", "utf8_encodable", "utf8_text",
]
