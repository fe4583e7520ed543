"""Model text -> ``DrugTargetAction``, or a typed ``ParseFailure``; never an exception.

Tolerant of the wrapping, strict about the content:

- accepted: code fences (```json … ```), prose before/after the object, several objects (the
  first one carrying ``action_type`` wins), trailing ``<|im_end|>``-style special tokens;
- rejected: anything that is not a JSON object matching ``DrugTargetAction`` exactly, with
  pydantic's strict JSON mode (no ``"0.8"`` for a number, no unknown keys, no unknown action
  names, parameters checked strictly against the action's parameter model).

A failure reaches the environment as ``unparseable_action(failure)``: the action dict
``{"action_type": UNPARSEABLE_ACTION_TYPE, "parameters": {}, "reasoning": "<kind>: <message>"}``.
``UNPARSEABLE_ACTION_TYPE`` is not an ``ActionType``, so the environment's validation refuses it
as a hard ``invalid_action`` violation: the step is blocked and penalised, nothing is charged,
the episode goes on, and the next observation's ``rule_violations`` carries the reason.

Failure kinds (``ParseFailure.kind``):

| kind           | meaning                                                          |
|----------------|------------------------------------------------------------------|
| ``empty``      | no text (after stripping whitespace and special tokens)          |
| ``no_json``    | no ``{`` at all: prose only                                      |
| ``invalid_json`` | a ``{`` but no decodable JSON object (truncated, single quotes…) |
| ``schema``     | a JSON object that fails ``DrugTargetAction``'s schema             |
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal, Union

from pydantic import ValidationError

from drugenv.actions import ACTION_TABLE
from drugenv.models import MAX_REASONING_CHARS, DrugTargetAction
from drugenv.simulator.rules import UNPARSEABLE_ACTION_TYPE, utf8_encodable  # one definition, in the rule engine

ParseFailureKind = Literal["empty", "no_json", "invalid_json", "schema"]

MAX_RAW_CHARS = 400
"""How much of the raw text a ParseFailure keeps (for logs and the dashboard)."""

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)(?:```|$)", re.DOTALL)
_PARAMS_OF = {a.value: spec.params for a, spec in ACTION_TABLE.items()}
"""Action name -> its parameter model (``ActionType(name)`` is a Python-level enum lookup, ~5 k
instructions of a ~70 k parse)."""
_DECODER = json.JSONDecoder()
_SPECIAL = re.compile(r"<\|[a-z_]+\|>")


def _accepts_no_parameters(params: type) -> bool:
    try:
        params.model_validate({}, strict=True)
    except ValidationError:
        return False
    return True


_NO_PARAMETERS_OK = frozenset(name for name, params in _PARAMS_OF.items() if _accepts_no_parameters(params))
"""Actions whose parameter model accepts ``{}`` (every parameter has a default): the strict check of
omitted or empty parameters, decided once (it is ~15% of a parse)."""


@dataclass(frozen=True)
class ParseFailure:
    """Why model output is not an action. ``message`` is short and says what was expected."""

    kind: ParseFailureKind
    message: str
    raw: str

    @property
    def violation(self) -> str:
        """One-line text for the environment's violation message and logs."""
        return f"unparseable model output ({self.kind}): {self.message}"


ParseResult = Union[DrugTargetAction, ParseFailure]


def _top_level_starts(text: str) -> list[int]:
    """Offsets of each ``{`` that opens a brace group at depth 0 (quotes are tracked inside groups)."""
    starts: list[int] = []
    depth, in_str, esc = 0, False, False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"' and depth > 0:
            in_str = True
        elif ch == "{":
            if depth == 0:
                starts.append(i)
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
    return starts


# What decoding a JSON text can raise besides its JSONDecodeError (a ValueError): ValueError for an
# integer literal past ``sys.get_int_max_str_digits()``, RecursionError for nesting deeper than the
# interpreter's limit. Either way the reply holds no usable object there.
_UNDECODABLE = (ValueError, RecursionError)


def _decode_at(text: str, starts: list[int]) -> list[Any]:
    decoder = json.JSONDecoder()
    found = []
    for i in starts:
        try:
            found.append(decoder.raw_decode(text, i)[0])
        except _UNDECODABLE:
            continue
    return found


def _candidates(text: str) -> tuple[list[dict], list[dict]]:
    """(objects at brace depth 0, objects at any ``{``) decodable from ``text``, in order."""
    top = [o for o in _decode_at(text, _top_level_starts(text)) if isinstance(o, dict)]
    anywhere = [o for o in _decode_at(text, [i for i, c in enumerate(text) if c == "{"]) if isinstance(o, dict)]
    return top, anywhere


def _whole_object(body: str) -> dict | None:
    """``body`` decoded, when all of it is one JSON object naming an ``action_type`` (the common,
    well-formed reply); else None and the search below runs.

    The search would choose the same object: without a fence there is one chunk, a valid JSON object
    spanning the whole text is its only depth-0 group (the brace scan tokenises strings as JSON does),
    and it is the first one holding ``action_type``. Skipping the scan and the second decoding pass
    saves ~60% of a parse."""
    if body[0] != "{" or body[-1] != "}" or "```" in body:
        return None
    # json.loads(body), without its wrapper's checks (a BOM, leading and trailing whitespace): the body
    # starts with "{" and ends with "}", so it decodes iff one object spans all of it.
    try:
        obj, end = _DECODER.raw_decode(body)
    except _UNDECODABLE:
        return None
    return obj if end == len(body) and isinstance(obj, dict) and "action_type" in obj else None


def _schema_message(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:3]:
        loc = ".".join(str(x) for x in e["loc"]) or "action"
        msg = e["msg"]
        if e["type"] == "enum":
            msg = "unknown action_type; expected one of the action table's names"
        parts.append(f"{loc}: {msg}")
    more = len(err.errors()) - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def _validate(obj: dict[str, Any], text: str | None = None) -> DrugTargetAction | str:
    """The action, or a schema error message (parameters are checked first for a precise location).
    ``text``: the JSON text ``obj`` was decoded from, all of it, where the caller has one."""
    at = obj.get("action_type")
    params = _PARAMS_OF.get(at) if isinstance(at, str) else None
    if params is not None and isinstance(obj.get("parameters", {}), (dict, type(None))):
        given = obj.get("parameters") or {}
        if given or at not in _NO_PARAMETERS_OK:
            try:
                params.model_validate(given, strict=True)
            except ValidationError as e:
                if any(isinstance(k, str) and not utf8_encodable(k) for k in given):  # pydantic names no field for it
                    return "parameters: a key that is not valid unicode (a lone surrogate escape); use the action table's names"
                return "parameters." + _schema_message(e)
    try:
        action = _validate_json(obj, text)
    except ValidationError as e:
        if e.errors()[0]["type"] == "json_invalid":  # a field's lone surrogate: name the field, as for a parameter
            field = next((k for k, v in obj.items() if isinstance(v, str) and not utf8_encodable(v)), None)
            if field is not None:
                return f"{field}: Input should be a valid string, unable to parse raw data as a unicode string"
            if any(isinstance(k, str) and not utf8_encodable(k) for k in obj):  # the JSON error's column is in our copy
                return "action: a key that is not valid unicode (a lone surrogate escape); use the action's field names"
        return _schema_message(e)
    except RecursionError:  # json.dumps of an object nested deeper than Python's recursion limit allows
        return "the action object is nested too deeply"
    # A report without final_decision/confidence is schema-valid: the environment's own
    # missing-decision rule judges it, as for any other agent.
    return action


def _validate_json(obj: dict[str, Any], text: str | None) -> DrugTargetAction:
    """``DrugTargetAction`` validated from ``json.dumps(obj)`` in strict JSON mode (which takes an action
    name for the enum); raises ``ValidationError``.

    ``text``, the JSON text ``obj`` was decoded from (all of it), is validated as is where it is ASCII
    (a str holding a lone surrogate has no UTF-8 for pydantic): pydantic reads from it the values
    ``json.loads`` read (a repeated key's last value), without the object written out again (a quarter
    of a parse). Where pydantic's reader refuses the text (a lone surrogate's escape, deeper nesting than
    it reads) its message points into that text, so ``json.dumps``'s text is validated, as before."""
    if text is not None and text.isascii():
        try:
            return DrugTargetAction.model_validate_json(text, strict=True)
        except ValidationError as e:
            if e.errors()[0]["type"] != "json_invalid":
                raise
    return DrugTargetAction.model_validate_json(json.dumps(obj), strict=True)


def parse_action(text: str | None) -> ParseResult:
    """Parse one model reply into a ``DrugTargetAction``; a ``ParseFailure`` if impossible (never raises
    for a ``str`` or ``None``; anything else is a ``TypeError``: a reply is text)."""
    if text is not None and not isinstance(text, str):
        raise TypeError(f"parse_action takes the model's reply as a str, got {type(text).__name__}")
    text = text or ""
    raw = text[:MAX_RAW_CHARS]
    body = (_SPECIAL.sub("", text) if "<|" in text else text).strip()
    if not body:
        return ParseFailure("empty", "the reply was empty; expected one JSON action object", raw)
    chosen = _whole_object(body)
    if chosen is not None:
        result = _validate(chosen, body)
        return ParseFailure("schema", result, raw) if isinstance(result, str) else result
    top: list[dict] = []
    anywhere: list[dict] = []
    for chunk in [*_FENCE.findall(body), body]:
        t, a = _candidates(chunk)
        top += t
        anywhere += a
    # Prefer a depth-0 object naming an action; then a nested one (prose with a stray "{" before
    # the JSON); never a fragment of a broken object that has no action_type.
    chosen = next((d for d in top if "action_type" in d), None) or next((d for d in anywhere if "action_type" in d), None)
    if chosen is None and top:
        chosen = top[0]
    if chosen is None:
        if "{" not in body:
            return ParseFailure("no_json", "no JSON object found; reply with one {\"action_type\": ...} object", raw)
        return ParseFailure("invalid_json", "JSON object is malformed or truncated", raw)
    result = _validate(chosen)
    if isinstance(result, str):
        return ParseFailure("schema", result, raw)
    return result


def unparseable_action(failure: ParseFailure) -> dict[str, Any]:
    """The action dict sent to the environment for a ``ParseFailure`` (blocked there as a hard violation)."""
    return {"action_type": UNPARSEABLE_ACTION_TYPE, "parameters": {}, "reasoning": failure.violation[:MAX_REASONING_CHARS]}


def to_env_action(result: ParseResult) -> DrugTargetAction | dict[str, Any]:
    """What to pass to ``env.step``: the action itself, or ``unparseable_action`` for a failure."""
    return unparseable_action(result) if isinstance(result, ParseFailure) else result


def is_valid(result: ParseResult | dict[str, Any]) -> bool:
    """True for a parsed ``DrugTargetAction``."""
    return isinstance(result, DrugTargetAction)


__all__ = [
    "MAX_RAW_CHARS",
    "ParseFailure",
    "ParseFailureKind",
    "ParseResult",
    "UNPARSEABLE_ACTION_TYPE",
    "is_valid",
    "parse_action",
    "to_env_action",
    "unparseable_action",
]
