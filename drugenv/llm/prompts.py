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
import operator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Optional, Sequence

from drugenv.actions import ACTION_TABLE, ActionType
from drugenv.agents.baselines import FOLLOW_UP_BELOW, STOP_LOGIT
from drugenv.agents.belief import Belief
from drugenv.agents.findings_fold import FindingsFold
from drugenv.errors import ConfigError, whole_number
from drugenv.models import FINDING_SECTIONS, EvidenceDossier, Finding, HistoryEntry, ReadOnlyDict, ReadOnlyList, ValidationObservation

CHARS_PER_TOKEN = 3.0
"""Token estimate when no tokenizer is given (English + JSON with a BPE tokenizer, conservative)."""

DEFAULT_MAX_PROMPT_TOKENS = 2048
"""Default budget for the whole rendered prompt (system + user + generation prompt), tokens."""

SECTIONS = FINDING_SECTIONS
_BY_STEP = operator.attrgetter("step")

ACTION_JSON_FORMAT = (
    '{"action_type": "<action name>", "parameters": {<only the keys listed for that action>}, '
    '"reasoning": "<one sentence>"}'
)
SUBMIT_JSON_FORMAT = (
    '{"action_type": "submit_validation_report", "final_decision": "go" or "no_go", '
    '"confidence": <number between 0 and 1>, "parameters": {}, "reasoning": "<the deciding evidence>"}'
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


DETAIL_LEVELS: tuple[DetailLevel, ...] = (
    DetailLevel(None, True, 8, 240),
    DetailLevel(None, False, 6, 160),
    DetailLevel(3, False, 4, 120),
    DetailLevel(2, False, 3, 90),
    DetailLevel(1, False, 2, 70),
    DetailLevel(0, False, 1, 60),
)
"""From most to least detailed; the first that fits the budget is used. Every level shows the last
output with its readouts (the evidence just paid for: the levels that dropped them showed those values
nowhere, the finding's dossier line being cut to its summary) and every red flag up to the section's
finding count (``findings_per_section``; the flags are the agent's own text, as many as it files)."""


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
    """A short system prompt for small budgets: the task and the JSON format only (the user turn
    names the actions already done; a small model learns the action names from its SFT data)."""
    return "\n".join([
        "You validate a drug target: gather evidence, then submit go or no_go with a calibrated confidence.",
        "Reply with one JSON object:", ACTION_JSON_FORMAT, "To finish:", SUBMIT_JSON_FORMAT,
    ])


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)
    return str(v)


def _float_text(v: float) -> str:
    """A float readout in every part of the prompt: 3 significant digits, whole numbers from 100 up (an IC50
    of 1226 nM was ``1.23e+03`` in the dossier and ``1226`` in the evidence table)."""
    return str(round(v)) if 100 <= abs(v) < math.inf else f"{v:.3g}"


_AS_STR = frozenset({str, int, bool})
"""Types whose ``_fmt_value`` is ``str(v)``, what an f-string writes for them."""


def _data_items(data: dict[str, Any], max_items: int) -> list[str]:
    """``k=v`` of the first ``max_items`` readouts of ``data`` in key order."""
    # Floats and the ``_AS_STR`` types (nearly every readout) are written here as ``_float_text`` and
    # ``_fmt_value`` write them: a call per readout was half the cost of a finding's or the last output's line.
    return [(f"{k}={v:.3g}" if -100.0 < v < 100.0 else f"{k}={_float_text(v)}") if v.__class__ is float
            else f"{k}={v}" if v.__class__ in _AS_STR else f"{k}={_fmt_value(v)}"
            for k, v in sorted(data.items())[:max_items]]


def _join_data(items: list[str], n: int, max_items: int) -> str:
    """``_fmt_data(data, max_items)`` from ``_data_items(data, m)`` (any ``m >= max_items``) of a ``data``
    of ``n`` readouts."""
    more = n - max_items
    return ", ".join(items[:max_items]) + (f", +{more} more" if more > 0 else "")


def _fmt_data(data: dict[str, Any], max_items: int = 8) -> str:
    return _join_data(_data_items(data, max_items), len(data), max_items)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _same_text(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are written alike by every formatter of this module (``_fmt_value``,
    ``fmt_readout``, the f-strings): of one JSON type and equal, the same all the way down a list or
    dict. Equality alone is not enough: ``True == 1 == 1.0`` and ``-0.0 == 0.0`` are written apart
    (a float zero is never taken as alike). False for any other type, which is then written again."""
    cls = a.__class__
    if cls is not b.__class__:
        return False
    if cls in _SCALARS:
        return a == b and (a != 0 or cls is not float)
    if cls is ReadOnlyList or cls is list:  # an observation's readouts are read-only (models.ReadOnlyDict)
        return len(a) == len(b) and all(map(_same_text, a, b))
    if cls is ReadOnlyDict or cls is dict:
        return len(a) == len(b) and all(map(_same_text, a, b)) and all(map(_same_text, a.values(), b.values()))
    return False


def _written_alike(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether a record's readouts or parameters ``a`` and ``b`` (string keys, the models' type) are
    written alike: the same keys in the same order, their values ``_same_text``."""
    return len(a) == len(b) and list(a) == list(b) and all(map(_same_text, a.values(), b.values()))


def _fmt_params(params: dict[str, Any]) -> str:
    return ",".join(f"{k}={_fmt_value(params[k])}" for k in sorted(params) if params[k] not in (None, ""))


# A step cuts its output's summary for the history line, the finding's line and the last output's line:
# one string object, whose whitespace-normalised form is kept for the last text cut (a tuple replaced
# whole, so a reader in another thread sees a text with its own form).
_LAST_NORMALISED: tuple[Optional[str], str] = (None, "")


def _cut(text: str, n: int) -> str:
    global _LAST_NORMALISED
    last = _LAST_NORMALISED
    if last[0] is text:
        text = last[1]
    else:
        normalised = " ".join(text.split())
        _LAST_NORMALISED = (text, normalised)
        text = normalised
    return text if len(text) <= n else text[: max(0, n - 1)] + "…"


# History entries are written once (the simulator shares them between observations), so the text
# made from one is kept and reused: a step re-renders only what is new. An entry holds the record
# itself (so its id cannot be reused while the entry lives) and the field objects the text was made
# from; any of them replaced means a miss. Bounded: the oldest entry makes way (a live episode needs
# only its recent records; kept records of finished episodes are what the garbage collector walks).
# Findings' lines are kept with the reading of their dossier instead (``_DOSSIERS``).
_TEXT_CACHE: dict[tuple, tuple] = {}
_TEXT_CACHE_MAX = 4096


def _remember(key: tuple, entry: tuple) -> None:
    if len(_TEXT_CACHE) >= _TEXT_CACHE_MAX:
        try:
            del _TEXT_CACHE[next(iter(_TEXT_CACHE))]
        except (KeyError, RuntimeError, StopIteration):  # threads render at once (Serve's agent): one evicted it
            pass
    _TEXT_CACHE[key] = entry


def _finding_line(f: Finding, lvl: DetailLevel) -> str:
    return f"  - [s{f.step}] {_finding_text(f, lvl)}"


def _finding_text(f: Finding, lvl: DetailLevel, data: Optional[str] = None) -> str:
    """A finding's line after its step; ``data``: ``_fmt_data(f.data)`` where the caller made it."""
    text = f"{f.action_type.value}({_fmt_params(f.parameters)}): {_cut(f.summary, lvl.summary_chars)}"
    if lvl.finding_data and f.data:
        text += f" {{{_fmt_data(f.data) if data is None else data}}}"
    return text


def _red_flags_line(flags: Sequence[str], lvl: DetailLevel) -> str:
    """The dossier's red flags: all of them, or at a level that shows only the newest findings of a section,
    as many of the newest flags, after a count of the others."""
    keep = lvl.findings_per_section
    earlier = 0 if keep is None else max(0, len(flags) - keep)
    shown = "; ".join(_cut(r, lvl.summary_chars) for r in flags[earlier:])
    if not earlier:
        return " red flags: " + shown
    return f" red flags: ({earlier} earlier)" + (f" {shown}" if shown else "")


def _section_block(sec: str, n: int, shown: Sequence[str]) -> str:
    """One section of the dossier: its header (``n`` findings) and the lines shown."""
    omitted = n - len(shown)
    return "\n".join([f" {sec} ({n}):" + (f" {omitted} older omitted" if omitted else ""), *shown])


def _dossier_text(blocks: Sequence[str], red_flags: Optional[str]) -> str:
    """The dossier part of the user turn from its non-empty sections' blocks (``_section_block``) and
    the red-flags line (None: no flags)."""
    out = ["Dossier:", *blocks]
    if red_flags is not None:
        out.append(red_flags)
    if len(out) == 1:
        out.append(" (empty: no evidence yet)")
    return "\n".join(out)


def _render_dossier(d: EvidenceDossier, lvl: DetailLevel, line_of: dict[int, str]) -> str:
    """The dossier part of the user turn; ``line_of``: id of each finding -> its line at ``lvl``."""
    blocks = []
    for sec in SECTIONS:
        findings: list[Finding] = getattr(d, sec)
        if not findings:
            continue
        shown = findings if lvl.findings_per_section is None else findings[max(0, len(findings) - lvl.findings_per_section):]
        if lvl.findings_per_section == 0:
            shown = []
        blocks.append(_section_block(sec, len(findings), [line_of[id(f)] for f in shown]))
    return _dossier_text(blocks, _red_flags_line(d.flagged_red_flags, lvl) if d.flagged_red_flags else None)


# ------------------------------------------------------------------------------------- evidence table

GATE_READOUTS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("tractability", (("druggability_score", "drug"), ("best_pocket_score", "pocket"), ("recent_inhibitors_reported", "recent"))),
    ("linkage", (("chronos_score", "chronos"), ("log2fc_tumor_vs_normal", "log2fc"), ("log2fc", "log2fc"),
                 ("alteration_frequency", "altered"))),
    ("safety", (("toxicity_risk", "tox"), ("adverse_knockout_phenotype", "ko"))),
    ("selectivity", (("selectivity_ratio", "sel"),)),
    ("translation", (("ic50_nm", "ic50"), ("tgi_pct", "tgi"))),
    ("clinical", (("clinical_precedent", "precedent"),)),
    ("expert", (("viability_estimate", "viability"),)),
)
"""Per public gate (``agents.belief.GATES``), the readouts its verdict depends on: (data key, short name).

A readout is shown as ``name=value`` on its gate's line. Every reading of ``druggability_score`` and
``best_pocket_score`` is listed (the gate uses the best); of the others the latest reading (the one
the gate uses). ``chronos_score`` of unaltered cell lines is not shown (the gate ignores it)."""

READOUT_NAMES: dict[str, str] = {k: n for _, pairs in GATE_READOUTS for k, n in pairs}
_ALL_READINGS = frozenset({"druggability_score", "best_pocket_score"})
FAIL_BELOW = FOLLOW_UP_BELOW
"""A hard gate whose pass probability is below this is marked ``FAIL`` (the heuristic's follow-up rule)."""
PASS_FROM = 0.6
"""... and from this one up ``pass``; in between ``?``."""
DECISIVE_LOGIT = STOP_LOGIT
"""``decisive`` is shown when |log-odds of P(go)| reaches this (the heuristic's stopping threshold)."""


def fmt_readout(v: Any) -> str:
    """A readout value as the evidence table shows it: bools yes/no, numbers to 3 significant digits
    (integers from 100 up), text as is."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return _float_text(v)
    if isinstance(v, int):
        return str(v) if abs(v) >= 100 else f"{v:.3g}"
    return str(v)


_GATE_OF: dict[str, str] = {k: gate for gate, pairs in GATE_READOUTS for k, _ in pairs}
"""Data key -> the gate whose line shows it."""
_PAIRS_OF: dict[str, tuple[tuple[str, str], ...]] = dict(GATE_READOUTS)


def _finding_readouts(f: Finding) -> tuple[tuple[str, Any], ...]:
    """The ``(data key, value)`` pairs of one finding that ``gate_readouts`` shows, in data order."""
    data = f.data
    unaltered = data.get("cell_lines") == "unaltered"
    return tuple((k, v) for k, v in data.items()
                 if k in READOUT_NAMES and not isinstance(v, (dict, list)) and v is not None
                 and not (k == "chronos_score" and unaltered))


def _gate_rows_of(values: dict[str, Any], pairs: tuple[tuple[str, str], ...]) -> list[tuple[str, Any]]:
    """One gate's ``(data key, value)`` rows (``pairs``: its ``GATE_READOUTS`` entry)."""
    rows: list[tuple[str, Any]] = []
    for k, _ in pairs:
        if k in _ALL_READINGS:
            rows += [(k, v) for v in values.get(k, ())]
        elif k in values:
            rows.append((k, values[k]))
    return rows


@dataclass
class _DossierReading:
    """What the user turn shows of a dossier's findings, read in step order (the state of
    ``_DOSSIERS``): a new finding changes the readouts of its gates only, the belief, and adds its
    own line, so only those are made again. One fold carries all of it so that a step checks the
    kept findings once."""

    values: dict[str, Any]
    """Gate readouts: data key -> latest value, or for ``_ALL_READINGS`` the tuple of every value."""
    shown: dict[str, str]
    """Gate -> ``"name=value ..."`` of its readouts as its table line shows them (missing: none yet)."""
    belief: Belief
    """``agents.belief``'s readings and the belief they hold, kept up to date gate by gate."""
    lines: dict[int, dict[int, str]]
    """Detail level (index) -> id of each finding -> its dossier line, for the levels rendered so far."""
    gate_lines: dict[str, tuple[Optional[float], Optional[bool], str, str]]
    """Gate -> (pass probability, seen, readouts, its line) as the last table made from this reading
    (or the one it was copied from) showed it."""
    belief_line: Optional[tuple[tuple[float, ...], str]]
    """(the gates' pass probabilities and soft log-odds, the belief line) likewise."""
    table: Optional[tuple[str, ...]]
    """The last table made (None: none yet)."""
    changed: set[str]
    """Gates whose readouts or belief were read again since ``table`` was made: only their lines and
    the belief line can differ from it."""

    @classmethod
    def start(cls) -> "_DossierReading":
        return cls({}, {}, Belief.start(), {}, {}, None, None, set())

    def copy(self) -> "_DossierReading":
        # A kept reading is shared by every thread and filled in lazily (``_table``, ``_DossierView.lines``):
        # each container is copied in one C call, which another thread cannot interleave, never by a Python loop.
        return _DossierReading(dict(self.values), dict(self.shown), self.belief.copy(),
                               {level: dict(line_of) for level, line_of in tuple(self.lines.items())}, dict(self.gate_lines),
                               self.belief_line, self.table, set(self.changed))


_UNSET = object()


def _read_finding(r: _DossierReading, f: Finding) -> None:
    """Read one finding into ``r`` (findings are read in step order). A gate's readouts text is made
    again only when a readout it shows was added or changed: a repeated query reads the same values."""
    values = r.values
    gates = set()
    for k, v in _finding_readouts(f):
        if k in _ALL_READINGS:
            values[k] = values.get(k, ()) + (v,)
        else:
            n, old = len(values), values.get(k, _UNSET)
            if k in ("log2fc", "log2fc_tumor_vs_normal"):  # one readout read from two assays
                values.pop("log2fc", None)
                values.pop("log2fc_tumor_vs_normal", None)
            values[k] = v
            if len(values) == n and _same_text(old, v):  # the same key holds an equal value (no other popped)
                continue
        gates.add(_GATE_OF[k])
    for gate in gates:
        r.shown[gate] = " ".join(f"{READOUT_NAMES[k]}={fmt_readout(v)}" for k, v in _gate_rows_of(values, _PAIRS_OF[gate]))
    gate = r.belief.read(f)
    if gate is not None:
        gates.add(gate)
    r.changed |= gates
    for level, line_of in r.lines.items():
        line_of[id(f)] = _finding_line(f, DETAIL_LEVELS[level])


def _gate_line(gate: str, p: Optional[float], seen: Optional[bool], vals: str) -> str:
    """One gate's table line: pass probability ``p`` (None: a soft gate), whether it was ``seen``,
    its readouts ``vals``."""
    if p is not None:
        if not seen:
            return f" {gate} {p:.2f} unseen"
        verdict = "FAIL" if p < FAIL_BELOW else ("pass" if p >= PASS_FROM else "?")
        return f" {gate} {p:.2f} {verdict}: {vals}"
    # soft evidence: a log-odds adjustment, not a gate
    return f" {gate}: {vals}" if seen else f" {gate} unseen"


def _table(r: _DossierReading) -> tuple[str, ...]:
    """The lines of ``evidence_table`` for a dossier read into ``r``. Only the lines of gates read again
    since the last table (``r.changed``) are looked at, and a gate line whose inputs are unchanged (kept
    in ``r.gate_lines``) is reused: a new finding moves one or two gates, often to the same values (a
    repeated query reads the same values). Equal probabilities print equally (they lie in [0.005, 0.995])."""
    if r.table is not None and not r.changed:
        return r.table
    b = r.belief.assessment
    kept_lines = r.gate_lines
    for gate in (tuple(r.changed) if r.table is not None else _PAIRS_OF):  # a snapshot: another thread may clear it
        vals = r.shown.get(gate, "")
        p, seen = b.pass_prob.get(gate), b.seen.get(gate)
        kept = kept_lines.get(gate)
        if kept is None or kept[0] != p or kept[1] != seen or kept[2] != vals:
            kept_lines[gate] = (p, seen, vals, _gate_line(gate, p, seen, vals))
    # P(go) is a function of the gates' values alone: equal values, the same belief line.
    inputs = (*b.pass_prob.values(), *b.soft_log_odds.values())
    if r.belief_line is None or r.belief_line[0] != inputs:
        p_go, logit = b.p_go_and_logit()
        decision, conf = ("go", p_go) if p_go >= 0.5 else ("no_go", 1.0 - p_go)
        # Written the way a report states it: a small model copies the decision and confidence by
        # matching the reply's own keys (an induction pattern) rather than by reading numbers.
        # The confidence is written as the reply's JSON writes it (``repr``: 0.9, 0.997), so the copy is
        # literal, digit for digit.
        line = (f'belief: "final_decision": "{decision}", "confidence": {report_confidence(conf)!r} | P(go)={p_go:.2f}'
                + (" decisive" if abs(logit) >= DECISIVE_LOGIT else ""))
        r.belief_line = (inputs, line)
    r.table = ("Gates (pass probability, verdict, readouts):", *[kept_lines[gate][3] for gate in _PAIRS_OF],
               r.belief_line[1])
    r.changed.clear()
    return r.table


class _DossierView:
    """A dossier's findings as the user turn shows them (the result of ``_DOSSIERS``): the evidence
    table and each finding's line, each made on first use and kept with the sequence of findings."""

    def __init__(self, reading: _DossierReading, findings: Sequence[Finding]):
        self._reading, self._findings = reading, findings
        self._table: Optional[tuple[tuple[str, ...], str]] = None

    @property
    def gate_values(self) -> dict[str, Any]:
        return self._reading.values

    def table(self) -> tuple[tuple[str, ...], str]:
        """The evidence table's lines, and the same joined."""
        if self._table is None:
            lines = _table(self._reading)
            self._table = lines, "\n".join(lines)
        return self._table

    def lines(self, level: int) -> dict[int, str]:
        """Id of each finding -> its dossier line at ``DETAIL_LEVELS[level]``. A level asked for the
        first time is made for every finding, and from then on the fold keeps it up to date."""
        line_of = self._reading.lines.get(level)
        if line_of is None:
            lvl = DETAIL_LEVELS[level]
            line_of = self._reading.lines[level] = {id(f): _finding_line(f, lvl) for f in self._findings}
        return line_of


# A step adds at most one finding, so each dossier's reading is the previous dossier's plus that
# finding's (``findings_fold``): a step reads and formats only what is new, and rendering one
# observation at several detail levels makes the table once.
_DOSSIERS = FindingsFold(_DossierReading.start, _read_finding, _DossierReading.copy, _DossierView)


def gate_readouts(dossier: EvidenceDossier) -> dict[str, list[tuple[str, Any]]]:
    """``{gate: [(data key, value), ...]}``: the readouts of ``GATE_READOUTS`` found in the dossier, in
    dossier order (latest reading wins, except the tractability scores: every reading)."""
    values = _DOSSIERS(dossier.all_findings()).gate_values
    return {gate: _gate_rows_of(values, pairs) for gate, pairs in GATE_READOUTS}


def _done_list(obs: ValidationObservation, keep: Optional[int] = None) -> str:
    out = []
    hist = obs.pipeline_history
    if keep is not None and len(hist) > keep:
        out.append(f"({len(hist) - keep} earlier)")
        hist = hist[len(hist) - keep:]
    for h in hist:
        out.append(_done_item(h))
    return " ".join(out) if out else "nothing yet"


def _history_fields(h: HistoryEntry) -> tuple:
    d = h.__dict__
    return (h, d["step"], d["action_type"], d["parameters"], d["summary"], d["cost"], d["violations"])


def _cached_history_text(h: HistoryEntry, key: tuple) -> Optional[str]:
    hit = _TEXT_CACHE.get(key)
    if hit is None or hit[0] is not h:
        return None
    d = h.__dict__
    if (hit[1] == d["step"] and hit[2] is d["action_type"] and hit[3] is d["parameters"] and hit[4] is d["summary"]
            and hit[5] == d["cost"] and hit[6] is d["violations"]):
        return hit[7]
    return None


def _done_item(h: HistoryEntry) -> str:
    key = (id(h), "done")
    item = _cached_history_text(h, key)
    if item is None:
        vals = [_fmt_value(h.parameters[k]) for k in sorted(h.parameters) if h.parameters[k] not in (None, "")]
        item = h.action_type + (f"({','.join(vals)})" if vals else "")
        if h.violations:
            item += "!"
        _remember(key, (*_history_fields(h), item))
    return item


def _format_history_line(h: HistoryEntry, lvl: DetailLevel) -> str:
    v = f" VIOLATIONS: {', '.join(h.violations)}" if h.violations else ""
    return f"  - [s{h.step}] {h.action_type}({_fmt_params(h.parameters)}) cost {h.cost}: {_cut(h.summary, lvl.summary_chars)}{v}"


def _history_line(h: HistoryEntry, lvl: DetailLevel) -> str:
    key = (id(h), "history", lvl.summary_chars)
    line = _cached_history_text(h, key)
    if line is None:
        line = _format_history_line(h, lvl)
        _remember(key, (*_history_fields(h), line))
    return line


def evidence_table(obs: ValidationObservation) -> list[str]:
    """The decision view: one line per public gate with its pass probability, verdict and readouts
    (``GATE_READOUTS``), then the overall belief ``P(go)`` with the decision and confidence it implies.

    Pass probabilities and ``P(go)`` are ``agents.belief.assess`` of the visible dossier (public
    information only). Example::

        tractability 0.99 pass: drug=0.94 pocket=0.9 recent=yes
        linkage 0.62 pass: log2fc=1.74 altered=0.23
        safety 0.01 FAIL: tox=0.74 ko=yes
        selectivity 0.87 unseen
        ...
        belief: "final_decision": "no_go", "confidence": 0.993 | P(go)=0.01 decisive
    """
    return list(_DOSSIERS(obs.dossier.all_findings()).table()[0])


def report_confidence(conf: float) -> float:
    """A confidence as the table shows it: 3 decimals, as the heuristic reports it, kept within
    [0.5, 0.999]. Two decimals capped at 0.99 held the agent below the heuristic, which states its belief
    unrounded, wherever the evidence is decisive: on cd33 one checkpoint's belief averaged 0.9999 while
    the table let it state 0.99 (docs/grpo.md, "Three-decimal confidences")."""
    return min(0.999, max(0.5, round(conf, 3)))


def render_compact(obs: ValidationObservation, keep_done: Optional[int] = None, lean: bool = False) -> str:
    """The user turn for small budgets: state, what was done (the last ``keep_done`` steps; None:
    all), the last step's violations, the evidence table (its belief line last) and the request.
    ``lean``: without the affordable-actions and violations lines (``build_messages``' last resort)."""
    lines = [
        f"Target: {obs.target_gene} | Indication: {obs.indication}",
        f"Step: {obs.step_count}/{obs.max_steps} | Credits: {obs.credits_remaining}/{obs.credits_total}",
    ]
    if obs.legal_actions and len(obs.legal_actions) < len(ACTION_TABLE) and not lean:
        legal = {a.value for a in obs.legal_actions}
        if 2 * len(legal) < len(ACTION_TABLE):
            lines.append("Affordable only: " + " ".join(a.value for a in ACTION_TABLE if a.value in legal))
        else:
            lines.append("Not affordable: " + " ".join(a.value for a in ACTION_TABLE if a.value not in legal))
    lines.append("Done: " + _done_list(obs, keep_done))
    if obs.rule_violations and not lean:
        lines.append("Violations last step: " + " ".join(f"{v.rule}({v.severity})" for v in obs.rule_violations))
    # The belief line is the table's last line and sits right before the request, at a fixed distance
    # from the reply's decision and confidence: a small model copies them by position.
    lines += evidence_table(obs)
    lines.append("Your next action (one JSON object):")
    return "\n".join(lines)


# The legal-actions line is one of few (one per set of affordable actions), so it is kept per set:
# the names read through the enum's ``value`` were most of its cost. Keyed by the members themselves
# (``ActionType`` hashes and compares as its name, in C).
_LEGAL_LINES: dict[tuple[ActionType, ...], str] = {}


def _legal_line(legal_actions: Sequence[ActionType]) -> str:
    key = tuple(legal_actions)
    line = _LEGAL_LINES.get(key)
    if line is None:
        legal = [a.value for a in legal_actions]
        line = "Legal actions: all" if len(legal) == len(ACTION_TABLE) else "Legal actions: " + ", ".join(legal)
        if len(_LEGAL_LINES) >= 256:
            _LEGAL_LINES.clear()
        _LEGAL_LINES[key] = line
    return line


def _target_line(obs: ValidationObservation) -> str:
    return f"Target: {obs.target_gene} | Indication: {obs.indication} ({obs.disease_context})"


def _recent(history: Sequence[Any], lvl: DetailLevel) -> Sequence[Any]:
    """The part of ``history`` (the pipeline history's entries, or their lines) that ``lvl`` shows."""
    return history[max(0, len(history) - lvl.history):] if lvl.history else []


def _as_is(text: str) -> str:
    return text


def _assemble(obs: ValidationObservation, lvl: DetailLevel, target: str, table: str, dossier: str,
              recent: Sequence[str], clean: Callable[[str], str] = _as_is,
              latest_data: Optional[str] = None) -> tuple[list[str], list[str], list[str]]:
    """(head, body, tail) of the user turn at ``lvl`` around its pieces made from the episode's
    records: the ``target`` line, the evidence ``table`` and the ``dossier`` (each joined), and the
    ``recent`` history's lines. The lines made here from the observation's records (last output,
    violations) pass through ``clean`` (see ``EpisodeUserTurn``); the others are ASCII text and numbers.
    ``latest_data``: the last output's readouts (``_fmt_data(data, 12)``) where the caller made them."""
    head = [target, f"Credits: {obs.credits_remaining}/{obs.credits_total} | Step: {obs.step_count}/{obs.max_steps}"]
    if obs.legal_actions:
        head.append(_legal_line(obs.legal_actions))
    head.append(table)
    body = [dossier]
    if recent:
        body.append(f"Recent steps (last {len(recent)} of {len(obs.pipeline_history)}):\n" + "\n".join(recent))
    tail = []
    lo = obs.latest_output
    if lo.action_type is not None or lo.summary:
        # An output without an action is the reset's, or a refused action's (one that is no action at all)
        name = lo.action_type.value if lo.action_type else "reset" if lo.status == "info" else "invalid action"
        line = f"Last output ({name}, {lo.status}): {_cut(lo.summary, 2 * lvl.summary_chars)}"
        if lo.data:
            line += f" {{{_fmt_data(lo.data, 12) if latest_data is None else latest_data}}}"
        tail.append(clean(line))
    if obs.rule_violations:
        tail.append("Violations last step:")
        tail += [clean(f"  - {v.rule} ({v.severity}): {_cut(v.message, 200)}") for v in obs.rule_violations]
    tail.append("Your next action (one JSON object):")
    return head, body, tail


def render_parts(obs: ValidationObservation, level: int) -> tuple[list[str], list[str], list[str]]:
    """(head, body, tail) of the full user turn, each a list of blocks of lines (every block holds
    at least one line; the text is all blocks joined by newlines). The head (state and evidence
    table) and tail (last output, violations, the request) are always kept; only the body (dossier,
    history) is shortened by ``DETAIL_LEVELS`` or cut, from its end.

    The evidence table and each finding's line are kept per sequence of findings (``_DOSSIERS``), so a
    step formats its new finding, history entry and output, and joins."""
    lvl = DETAIL_LEVELS[level]
    view = _DOSSIERS(obs.dossier.all_findings())
    return _assemble(obs, lvl, _target_line(obs), view.table()[1], _render_dossier(obs.dossier, lvl, view.lines(level)),
                     [_history_line(h, lvl) for h in _recent(obs.pipeline_history, lvl)])


def render_observation(obs: ValidationObservation, level: int = 0) -> str:
    """The full user turn for ``obs`` at ``DETAIL_LEVELS[level]``: state, the evidence table
    (``evidence_table``), the dossier, recent history, the last output and violations."""
    if type(level) is not int or not 0 <= level < len(DETAIL_LEVELS):  # 99 was an IndexError, -1 the last level
        raise ConfigError(f"level must be a whole number from 0 to {len(DETAIL_LEVELS) - 1} (DETAIL_LEVELS), got {level!r:.40}")
    head, body, tail = render_parts(obs, level)
    return "\n".join(head + body + tail)


def _tabled(r: _DossierReading) -> _DossierReading:
    _table(r)
    return r


_EMPTY_READING = _tabled(_DossierReading.start())
"""The reading of a dossier with no findings, its table made (kept in ``r.table``): ``EpisodeUserTurn``
starts each episode from a copy of it (making that table was ~11 µs of every start)."""


class EpisodeUserTurn:
    """``clean(render_observation(obs))`` (the most detailed level) for one episode's observations in
    step order, made by extending what the previous observation's text was made of. The text env
    renders every step of its episode with one; other callers use ``render_observation``.

    Within an episode the simulator only appends (``DrugTargetEnvironment._snapshot``): a step files at
    most one finding, one pipeline-history entry and at most one red flag, and a record is never
    changed once written. So the evidence table's reading and text, each section's finding lines and
    block, the history's lines and the target line are kept, and a call reads only the records added
    since the last one, where ``render_observation`` checks every kept piece. The step's own lines
    (budget, legal actions, last output, violations) are made as ``render_observation`` makes them. An
    observation whose history does not continue the kept one (another episode, a reset) starts afresh.
    Records are trusted as the simulator promises: a field replaced on a kept record afterwards is not
    seen here (``render_observation`` checks for that).

    ``clean`` maps text character by character (the text env's ``to_charset``), so it is applied to
    each piece made from the records when it is made (the rest is ASCII text and numbers): a step maps
    its new text only, not the whole user turn."""

    _LEVEL = DETAIL_LEVELS[0]

    def __init__(self, clean: Callable[[str], str] = _as_is) -> None:
        self._clean = clean
        self._target: Optional[str] = None  # no observation read yet
        self._entries_read = 0
        self._last_entry: Optional[HistoryEntry] = None

    def __call__(self, obs: ValidationObservation) -> str:
        lvl, clean = self._LEVEL, self._clean
        history = obs.pipeline_history
        n = self._entries_read
        if n:
            # Each step appends an entry, so a continued episode holds the last entry read at the same place
            # (the object itself is kept: its id cannot be reused).
            if len(history) < n or history[n - 1] is not self._last_entry:
                self._start(obs)
                n = 0
        elif self._target is None or self._flags_read or any(self._section_lines.values()):
            self._start(obs)
        else:
            # Nothing read since the last start (a reset's turn has an empty history and dossier), so the
            # kept pieces are a fresh start's for any episode but for its target line. (The step after a
            # reset used to start afresh again: two starts an episode.)
            self._target = clean(_target_line(obs))
        if len(history) > n:
            self._history_lines += [clean(_format_history_line(h, lvl)) for h in history[n:]]
            self._entries_read, self._last_entry = len(history), history[-1]
        self._read_dossier(obs.dossier)
        # The output that filed the newest finding holds its readouts (the finding keeps a copy).
        data = obs.latest_output.data
        latest_data = self._latest_data[1] if _written_alike(data, self._latest_data[0]) else None
        head, body, tail = _assemble(obs, lvl, self._target, self._table, self._dossier, _recent(self._history_lines, lvl),
                                     clean, latest_data)
        return "\n".join(head + body + tail)

    def _finding_line(self, f: Finding) -> str:
        """``clean(_finding_line(f, lvl))``. A repeated query files a finding written like the last one of
        its action but for the step (it reads the same values), so the text after the step is kept per
        action and reused where the finding's fields are written alike. The readouts are written once for
        the finding's line and the last output's (``_latest_data``), which has them too."""
        kept = self._finding_texts.get(f.action_type)
        if (kept is None or f.summary != kept[0].summary or not _written_alike(f.data, kept[0].data)
                or not _written_alike(f.parameters, kept[0].parameters)):
            items = _data_items(f.data, 12)
            text = self._clean(_finding_text(f, self._LEVEL, _join_data(items, len(f.data), 8)))
            kept = self._finding_texts[f.action_type] = (f, text, _join_data(items, len(f.data), 12))
        self._latest_data = (f.data, kept[2])
        return f"  - [s{f.step}] {kept[1]}"

    def _start(self, obs: ValidationObservation) -> None:
        self._target = self._clean(_target_line(obs))
        self._entries_read, self._last_entry = 0, None
        self._history_lines: list[str] = []
        self._finding_texts: dict[ActionType, tuple[Finding, str, str]] = {}
        self._latest_data: tuple[dict[str, Any], str] = ({}, "")
        self._section_lines: dict[str, list[str]] = {sec: [] for sec in SECTIONS}
        self._section_blocks: dict[str, str] = {}
        self._flags_read = 0
        self._red_flags: Optional[str] = None
        # A copy of the empty dossier's reading, tabled once: every episode starts from the same table.
        self._reading = _EMPTY_READING.copy()
        self._table_lines = self._reading.table
        self._table = self._clean("\n".join(self._table_lines))
        self._dossier = _dossier_text((), None)

    def _read_dossier(self, d: EvidenceDossier) -> None:
        """Add the findings and red flags filed since the last call."""
        lvl, clean = self._LEVEL, self._clean
        new: list[Finding] = []
        for sec, lines in self._section_lines.items():
            findings: list[Finding] = getattr(d, sec)
            if len(findings) > len(lines):
                added = findings[len(lines):]
                lines += [self._finding_line(f) for f in added]
                self._section_blocks[sec] = _section_block(sec, len(lines), lines)
                new += added
        flags = d.flagged_red_flags
        if not new and len(flags) == self._flags_read:
            return
        if new:
            for f in sorted(new, key=_BY_STEP):  # the table reads findings in step order, as ``all_findings`` lists them
                _read_finding(self._reading, f)
            lines = _table(self._reading)
            if lines != self._table_lines:
                self._table_lines, self._table = lines, clean("\n".join(lines))
        if len(flags) != self._flags_read:
            self._flags_read = len(flags)
            self._red_flags = clean(_red_flags_line(flags, lvl))
        blocks = self._section_blocks
        self._dossier = _dossier_text([blocks[sec] for sec in SECTIONS if sec in blocks], self._red_flags)


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

    Budgets below ``COMPACT_BELOW`` tokens get the compact system prompt and the compact user turn
    (``render_compact``: state, what was done, the evidence table), so small models train on short
    sequences that still hold every readout the decision depends on. Larger budgets get the full
    system prompt and the full user turn, whose dossier part degrades through ``DETAIL_LEVELS`` and
    is cut last; the evidence table is never cut.

    When the full system prompt, the evidence table and the violations leave no room for the dossier,
    the compact prompt is used instead. Raises ``ConfigError`` (a ``ValueError``) when even that does not fit.
    """
    if type(max_prompt_tokens) is not int:  # NaN was a ValueError from int(), "100" and None a TypeError
        max_prompt_tokens = whole_number(max_prompt_tokens, "max_prompt_tokens")
    count = make_token_counter(tokenizer)

    def compact() -> list[dict[str, str]]:
        n = 0
        # A long history shrinks first, then the lines that grow late in an episode go (a budget that fit the
        # first turns failed the run steps later); the evidence table is never cut.
        for keep, lean in ((None, False), (8, False), (4, False), (0, False), (0, True)):
            msgs = _messages(render_compact(obs, keep, lean), True)
            n = count(msgs)
            if n <= max_prompt_tokens:
                return msgs
        raise ConfigError(f"max_prompt_tokens={max_prompt_tokens} but the compact prompt takes {n} tokens; "
                          "raise max_prompt_tokens.")

    if max_prompt_tokens < COMPACT_BELOW:
        return compact()
    for level in range(len(DETAIL_LEVELS)):
        msgs = _messages(render_observation(obs, level))
        if count(msgs) <= max_prompt_tokens:
            return msgs
    # Most compact level still too long: cut the body (dossier, history), keep the head and the tail (the last
    # output, the violations, the request).
    head, body, tail = render_parts(obs, len(DETAIL_LEVELS) - 1)
    marker = "[truncated]"
    fixed = "\n".join(head + [marker] + tail)
    overhead = count(_messages(fixed))
    room = max_prompt_tokens - overhead - 8
    if room <= 0:  # the full system prompt leaves no room: the compact prompt (or ValueError)
        return compact()
    text = "\n".join(body)

    def assemble(cut: str) -> str:
        return "\n".join(head + ([cut] if cut else []) + [marker] + tail)

    if tokenizer is None:
        user = assemble(text[: int(room * CHARS_PER_TOKEN)])
    else:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        while True:
            ids = ids[:room]
            user = assemble(tokenizer.decode(ids))
            if count(_messages(user)) <= max_prompt_tokens or not ids:
                break
            room -= 4
    return _messages(user)


def action_to_json(action: Any) -> str:
    """The canonical assistant reply for an action: compact JSON with only the fields that matter."""
    d = action.model_dump(mode="json") if hasattr(action, "model_dump") else dict(action)
    out: dict[str, Any] = {"action_type": d["action_type"]}
    if d["action_type"] == ActionType.SUBMIT_VALIDATION_REPORT.value or d.get("final_decision") is not None:
        # The decision comes first: the model commits to it before writing any number or reasoning.
        out["final_decision"] = d.get("final_decision")
        out["confidence"] = d.get("confidence")
    out["parameters"] = d.get("parameters") or {}
    out["reasoning"] = d.get("reasoning", "")
    return json.dumps(out, ensure_ascii=False)


__all__ = [
    "ACTION_JSON_FORMAT",
    "CHARS_PER_TOKEN",
    "DEFAULT_MAX_PROMPT_TOKENS",
    "DETAIL_LEVELS",
    "DetailLevel",
    "EpisodeUserTurn",
    "GATE_READOUTS",
    "READOUT_NAMES",
    "SUBMIT_JSON_FORMAT",
    "action_to_json",
    "build_messages",
    "compact_system_prompt",
    "evidence_table",
    "fmt_readout",
    "gate_readouts",
    "make_token_counter",
    "prompt_token_ids",
    "render_compact",
    "render_observation",
    "render_parts",
    "report_confidence",
    "system_prompt",
]
