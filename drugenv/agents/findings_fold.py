"""Folds over a dossier's findings, kept per sequence of findings so that a step reads only what is new.

``EvidenceDossier.all_findings()`` lists findings in step order, findings are written once and
shared between observations, and a step files at most one finding, the newest. So the fold after
this step is the fold after the previous step plus one finding. ``FindingsFold`` keeps each state
(and what ``finish`` made of it) per sequence of findings and extends the state of the sequence
without its last finding when that one is kept.

An entry holds the findings themselves, so their ids (the key) cannot be reused while it lives, and
every field object of each finding (``step``, ``action_type``, ``parameters``, ``summary``,
``data``); any of them replaced means a miss.

Memory: an episode only ever asks for its newest sequence again, so extending a kept sequence drops
it (asking for it later recomputes it from the start: the same result), except the empty sequence,
which every episode starts from (a reset asks for it). What stays is one entry per episode and the
empty one, bounded by ``max_entries`` (the oldest is dropped first). Keeping few entries matters beyond
their size: entries keep findings alive, and a growing heap of them made the garbage collector's
passes a tenth of a text-env step.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Optional, Sequence, TypeVar

from drugenv.models import Finding

S = TypeVar("S")
R = TypeVar("R")

_Fields = tuple[Any, Any, Any, Any, Any]
_Entry = tuple[tuple[Finding, ...], tuple[_Fields, ...], Any, Any]


def _fields(f: Finding) -> _Fields:
    """Every field object of ``f`` (``Finding`` has these five)."""
    d = f.__dict__
    return d["step"], d["action_type"], d["parameters"], d["summary"], d["data"]


def _unchanged(findings: tuple[Finding, ...], fields: tuple[_Fields, ...]) -> bool:
    """Whether every finding still holds the field objects recorded with it."""
    for f, (step, action_type, parameters, summary, data) in zip(findings, fields):
        d = f.__dict__
        if (d["data"] is not data or d["parameters"] is not parameters or d["action_type"] is not action_type
                or d["summary"] is not summary or d["step"] is not step):
            return False
    return True


class FindingsFold(Generic[S, R]):
    """``finish(state, findings)`` of the fold ``read(state, f)`` over ``findings`` from ``start()``.

    ``read`` updates a state in place (what it returns is ignored); it only ever gets a fresh ``copy`` of a kept state. ``finish``
    may also keep what it made in the state (the next extension's copy starts from it). Neither the
    state nor the result handed out may be changed by the caller.
    """

    def __init__(self, start: Callable[[], S], read: Callable[[S, Finding], object], copy: Callable[[S], S],
                 finish: Callable[[S, Sequence[Finding]], R], max_entries: int = 256):
        self._start, self._read, self._copy, self._finish = start, read, copy, finish
        self._entries: dict[tuple[int, ...], _Entry] = {}
        self._max = max_entries

    def _kept(self, key: tuple[int, ...]) -> Optional[_Entry]:
        entry = self._entries.get(key)
        if entry is None or not _unchanged(entry[0], entry[1]):
            return None
        return entry

    def __call__(self, findings: Sequence[Finding]) -> R:
        key = tuple(map(id, findings))
        entry = self._kept(key)
        if entry is not None:
            return entry[3]
        prev = self._kept(key[:-1]) if key else None
        if prev is not None:
            state = self._copy(prev[2])
            self._read(state, findings[-1])
            if len(key) > 1:  # superseded: the episode has moved on (the empty sequence is every episode's start)
                self._entries.pop(key[:-1], None)  # (another thread may have evicted it)
            fields = (*prev[1], _fields(findings[-1]))
        else:
            state = self._start()
            for f in findings:
                self._read(state, f)
            fields = tuple(map(_fields, findings))
        result = self._finish(state, findings)
        entries = self._entries
        entries.pop(key, None)  # a stale entry of this key (a field replaced) makes way, re-inserted as the newest
        if len(entries) >= self._max:
            try:
                del entries[next(iter(entries))]
            except (KeyError, RuntimeError, StopIteration):  # threads read at once (Serve's agent): one evicted it
                pass
        entries[key] = (tuple(findings), fields, state, result)
        return result


__all__ = ["FindingsFold"]
