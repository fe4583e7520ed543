"""Observation -> chat messages: one prompt per step, bounded by a token budget.

The dossier is the agent's memory, so every turn is a fresh ``[system, user]`` pair (no growing
transcript). The system prompt is built from ``ACTION_TABLE`` (costs, parameters with their
choices and defaults, soft prerequisites) and the JSON action format. The user turn is compact:
target, indication, credits, step, legal actions, dossier, recent history, the last output and
the last step's violations.

Budgeting. ``build_messages(obs, tokenizer=..., max_prompt_tokens=N)`` renders the user turn at
decreasing levels of detail (``DETAIL_LEVELS``) and keeps the first whose full chat-templated
prompt (system + user + generation prompt) has at most ``N`` tokens; if even the most compact
level is too long the user turn is cut at the token boundary (and marked ``[truncated]``).
Without a tokenizer, tokens are estimated as ``ceil(chars / CHARS_PER_TOKEN)``. Rendering is a
pure function of the observation: same observation, same messages.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Optional

from drugenv.actions import ACTION_TABLE, ActionType
from drugenv.models import EvidenceDossier, Finding, ValidationObservation

CHARS_PER_TOKEN = 3.0
"""Token estimate when no tokenizer is given (English + JSON with a BPE tokenizer, conservative)."""

DEFAULT_MAX_PROMPT_TOKENS = 2048
"""Default budget for the whole rendered prompt (system + user + generation prompt), tokens."""

SECTIONS = ("expression", "protein", "clinical", "safety", "literature", "experimental")

ACTION_JSON_FORMAT = (
    '{"action_type": "<action name>", "parameters": {<only the keys listed for that action>}, '
    '"reasoning": "<one sentence>"}'
)
SUBMIT_JSON_FORMAT = (
    '{"action_type": "submit_validation_report", "parameters": {}, "reasoning": "<one sentence>", '
    '"final_decision": "go" or "no_go", "confidence": <number between 0 and 1>}'
)


@dataclass(frozen=True)
class DetailLevel:
    """How much of the observation one rendering shows."""

    findings_per_section: Optional[int]
    """Newest findings shown per dossier section (None: all)."""
    finding_data: bool
    """Show each finding's readouts, not just its summary."""
    history: int
    """Most recent pipeline-history entries shown."""
    summary_chars: int
    """Summaries are cut to this many characters."""
    latest_data: bool
    """Show the last output's readouts."""


DETAIL_LEVELS: tuple[DetailLevel, ...] = (
    DetailLevel(None, True, 8, 240, True),
    DetailLevel(None, False, 6, 160, True),
    DetailLevel(3, False, 4, 120, True),
    DetailLevel(2, False, 3, 90, False),
    DetailLevel(1, False, 2, 70, False),
    DetailLevel(0, False, 1, 60, False),
)
"""From most to least detailed; the first that fits the budget is used."""


def _param_doc(name: str, field: Any) -> str:
    ann = field.annotation
    args = getattr(ann, "__args__", None)
    if args and type(None) in args and len(args) == 2:  # Optional[X]
        ann = next(a for a in args if a is not type(None))
        args = getattr(ann, "__args__", None)
    if args and all(isinstance(a, str) for a in args):
        kind = "|".join(args)
    elif ann is bool:
        kind = "true|false"
    elif ann is float:
        lo = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
        hi = next((m.le for m in field.metadata if hasattr(m, "le")), None)
        kind = f"number {lo}-{hi}" if lo is not None and hi is not None else "number"
    elif ann is int:
        lo = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
        hi = next((m.le for m in field.metadata if hasattr(m, "le")), None)
        kind = f"integer {lo}-{hi}" if lo is not None and hi is not None else "integer"
    else:
        kind = "text"
    default = "required" if field.is_required() else f"default {json.dumps(field.default)}"
    return f"{name}: {kind} ({default})"


@lru_cache(maxsize=1)
def system_prompt() -> str:
    """The system prompt: role, rules, the action table from ``ACTION_TABLE`` and the JSON format."""
    lines = [
        "You are a computational drug-discovery scientist validating a drug target for a disease.",
        "Each step you choose ONE action. Evidence actions cost credits; the dossier in each message holds "
        "everything found so far. Gather the key evidence cheaply, avoid repeating identical queries, respect "
        "the prerequisites, then submit a calibrated go / no_go report before credits or steps run out.",
        "",
        "Actions (name, cost in credits, parameters, prerequisite):",
    ]
    for at, spec in ACTION_TABLE.items():
        params = "; ".join(_param_doc(n, f) for n, f in spec.params.model_fields.items()) or "none"
        pre = ""
        if spec.soft_prereq:
            pre = " | after: " + " or ".join(d.value for d in spec.soft_prereq)
        elif spec.needs_any_evidence:
            pre = " | after: any evidence"
        lines.append(f"- {at.value} ({spec.cost}): {spec.description} Params: {params}{pre}")
    lines += [
        "",
        "Reply with exactly one JSON object and nothing else:",
        ACTION_JSON_FORMAT,
        "To finish:",
        SUBMIT_JSON_FORMAT,
    ]
    return "\n".join(lines)


COMPACT_BELOW = 768
"""Prompt budgets below this many tokens use ``compact_system_prompt`` (small models, CPU training)."""


@lru_cache(maxsize=1)
def compact_system_prompt() -> str:
    """A short system prompt for small budgets: the action names with costs and the JSON format only."""
    names = ", ".join(f"{at.value}({spec.cost})" for at, spec in ACTION_TABLE.items())
    return "\n".join([
        "You validate a drug target. Choose ONE action per turn (cost in credits): " + names + ".",
        "Reply with one JSON object:", ACTION_JSON_FORMAT, "To finish:", SUBMIT_JSON_FORMAT,
    ])


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)
    return str(v)


def _fmt_data(data: dict[str, Any], max_items: int = 8) -> str:
    items = [f"{k}={_fmt_value(data[k])}" for k in sorted(data)[:max_items]]
    more = len(data) - max_items
    return ", ".join(items) + (f", +{more} more" if more > 0 else "")


def _fmt_params(params: dict[str, Any]) -> str:
    return ",".join(f"{k}={_fmt_value(params[k])}" for k in sorted(params) if params[k] not in (None, ""))


def _cut(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: max(0, n - 1)] + "…"


def _fmt_finding(f: Finding, lvl: DetailLevel) -> str:
    line = f"  - [s{f.step}] {f.action_type.value}({_fmt_params(f.parameters)}): {_cut(f.summary, lvl.summary_chars)}"
    if lvl.finding_data and f.data:
        line += f" {{{_fmt_data(f.data)}}}"
    return line


def _render_dossier(d: EvidenceDossier, lvl: DetailLevel) -> list[str]:
    out = ["Dossier:"]
    empty = True
    for sec in SECTIONS:
        findings: list[Finding] = getattr(d, sec)
        if not findings:
            continue
        empty = False
        shown = findings if lvl.findings_per_section is None else findings[len(findings) - lvl.findings_per_section:]
        if lvl.findings_per_section == 0:
            shown = []
        omitted = len(findings) - len(shown)
        out.append(f" {sec} ({len(findings)}):" + (f" {omitted} older omitted" if omitted else ""))
        out += [_fmt_finding(f, lvl) for f in shown]
    if d.flagged_red_flags:
        empty = False
        out.append(" red flags: " + "; ".join(_cut(r, lvl.summary_chars) for r in d.flagged_red_flags))
    if empty:
        out.append(" (empty: no evidence yet)")
    return out


def render_observation(obs: ValidationObservation, level: int = 0) -> str:
    """The user turn for ``obs`` at ``DETAIL_LEVELS[level]``."""
    lvl = DETAIL_LEVELS[level]
    lines = [
        f"Target: {obs.target_gene} | Indication: {obs.indication} ({obs.disease_context})",
        f"Credits: {obs.credits_remaining}/{obs.credits_total} | Step: {obs.step_count}/{obs.max_steps}",
    ]
    if obs.legal_actions:
        legal = [a.value for a in obs.legal_actions]
        if len(legal) == len(ACTION_TABLE):
            lines.append("Legal actions: all")
        else:
            lines.append("Legal actions: " + ", ".join(legal))
    lines += _render_dossier(obs.dossier, lvl)
    hist = obs.pipeline_history[len(obs.pipeline_history) - lvl.history:] if lvl.history else []
    if hist:
        lines.append(f"Recent steps (last {len(hist)} of {len(obs.pipeline_history)}):")
        for h in hist:
            v = f" VIOLATIONS: {', '.join(h.violations)}" if h.violations else ""
            lines.append(f"  - [s{h.step}] {h.action_type}({_fmt_params(h.parameters)}) cost {h.cost}: "
                         f"{_cut(h.summary, lvl.summary_chars)}{v}")
    lo = obs.latest_output
    if lo.action_type is not None or lo.summary:
        name = lo.action_type.value if lo.action_type else "reset"
        line = f"Last output ({name}, {lo.status}): {_cut(lo.summary, 2 * lvl.summary_chars)}"
        if lvl.latest_data and lo.data:
            line += f" {{{_fmt_data(lo.data, 12)}}}"
        lines.append(line)
    if obs.rule_violations:
        lines.append("Violations last step:")
        lines += [f"  - {v.rule} ({v.severity}): {_cut(v.message, 200)}" for v in obs.rule_violations]
    lines.append("Your next action (one JSON object):")
    return "\n".join(lines)


def _messages(user: str, compact: bool = False) -> list[dict[str, str]]:
    system = compact_system_prompt() if compact else system_prompt()
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def make_token_counter(tokenizer: Any = None) -> Callable[[list[dict[str, str]]], int]:
    """Count the tokens of the full chat-templated prompt (with the generation prompt)."""
    if tokenizer is None:
        return lambda msgs: math.ceil(sum(len(m["content"]) + 16 for m in msgs) / CHARS_PER_TOKEN) + 3

    def count(msgs: list[dict[str, str]]) -> int:
        return len(prompt_token_ids(tokenizer, msgs))

    return count


def prompt_token_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of ``messages`` rendered with the tokenizer's chat template plus the generation prompt."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def build_messages(
    obs: ValidationObservation,
    *,
    tokenizer: Any = None,
    max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS,
) -> list[dict[str, str]]:
    """``[system, user]`` chat messages for ``obs`` whose rendered prompt fits ``max_prompt_tokens``.

    Budgets below ``COMPACT_BELOW`` tokens get the compact system prompt (action names and the JSON
    format only), so small models train on short sequences.

    Raises ``ValueError`` when the system prompt alone does not fit (raise the budget).
    """
    count = make_token_counter(tokenizer)
    compact = max_prompt_tokens < COMPACT_BELOW
    for level in range(len(DETAIL_LEVELS)):
        msgs = _messages(render_observation(obs, level), compact)
        if count(msgs) <= max_prompt_tokens:
            return msgs
    # Most compact level still too long: cut the user turn.
    overhead = count(_messages("", compact))
    room = max_prompt_tokens - overhead - 8
    if room <= 0:
        raise ValueError(
            f"max_prompt_tokens={max_prompt_tokens} but the system prompt alone takes {overhead} tokens; "
            "raise max_prompt_tokens."
        )
    user = render_observation(obs, len(DETAIL_LEVELS) - 1)
    marker = "\n[truncated]"
    if tokenizer is None:
        cut = int(room * CHARS_PER_TOKEN) - len(marker)
        user = user[:cut] + marker
    else:
        ids = tokenizer(user, add_special_tokens=False)["input_ids"]
        while True:
            ids = ids[:room]
            user = tokenizer.decode(ids) + marker
            if count(_messages(user, compact)) <= max_prompt_tokens or not ids:
                break
            room -= 4
    return _messages(user, compact)


def action_to_json(action: Any) -> str:
    """The canonical assistant reply for an action: compact JSON with only the fields that matter."""
    d = action.model_dump(mode="json") if hasattr(action, "model_dump") else dict(action)
    out: dict[str, Any] = {"action_type": d["action_type"], "parameters": d.get("parameters") or {},
                           "reasoning": d.get("reasoning", "")}
    if d["action_type"] == ActionType.SUBMIT_VALIDATION_REPORT.value or d.get("final_decision") is not None:
        out["final_decision"] = d.get("final_decision")
        out["confidence"] = d.get("confidence")
    return json.dumps(out, ensure_ascii=False)


__all__ = [
    "ACTION_JSON_FORMAT",
    "CHARS_PER_TOKEN",
    "DEFAULT_MAX_PROMPT_TOKENS",
    "DETAIL_LEVELS",
    "DetailLevel",
    "SUBMIT_JSON_FORMAT",
    "action_to_json",
    "build_messages",
    "make_token_counter",
    "prompt_token_ids",
    "render_observation",
    "system_prompt",
]
