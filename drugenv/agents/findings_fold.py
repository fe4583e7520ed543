"""Folds over a dossier's findings, kept per sequence of findings so that a step reads only what is new.

``EvidenceDossier.all_findings()`` lists findings in step order, findings are written once and
shared between observations, and a step files at most one finding, the newest. So the fold after
this step is the fold after the previous step plus one finding. ``FindingsFold`` keeps each state
(and what ``finish`` made of it) per sequence of findings and extends the state of the sequence
without its last finding when that one is kept.

An entry holds the findings themselves, so their ids (the key) cannot be reused while it lives, and
the ``action_type``, ``parameters`` and ``data`` objects it read (the fields a fold may read); any of them replaced
means a miss. Bounded: cleared when full (a live episode needs only its latest entry, so the bound is
small: every entry keeps its findings alive).
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Optional, Sequence, TypeVar

from drugenv.models import Finding

S = TypeVar("S")
R = TypeVar("R")


class FindingsFold(Generic[S, R]):
    """``finish(state, findings)`` of the fold ``read(state, f)`` over ``findings`` from ``start()``.

    ``read`` updates a state in place; it only ever gets a fresh ``copy`` of a kept state. Neither the
    state nor the result handed out may be changed by the caller.
    """

    def __init__(self, start: Callable[[], S], read: Callable[[S, Finding], None], copy: Callable[[S], S],
                 finish: Callable[[S, Sequence[Finding]], R], max_entries: int = 4096):
        self._start, self._read, self._copy, self._finish = start, read, copy, finish
        self._entries: dict[tuple[int, ...], tuple[tuple[Finding, ...], tuple[Any, ...], S, R]] = {}
        self._max = max_entries

    def _kept(self, key: tuple[int, ...]) -> Optional[tuple[tuple[Finding, ...], tuple[Any, ...], S, R]]:
        entry = self._entries.get(key)
        if entry is None:
            return None
        for f, (action_type, parameters, data) in zip(entry[0], entry[1]):
            d = f.__dict__
            if d["action_type"] is not action_type or d["parameters"] is not parameters or d["data"] is not data:
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
        else:
            state = self._start()
            for f in findings:
                self._read(state, f)
        result = self._finish(state, findings)
        if len(self._entries) >= self._max:
            self._entries.clear()
        fields = tuple((d["action_type"], d["parameters"], d["data"]) for d in (f.__dict__ for f in findings))
        self._entries[key] = (tuple(findings), fields, state, result)
        return result


__all__ = ["FindingsFold"]
