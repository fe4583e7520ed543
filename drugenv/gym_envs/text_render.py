"""Observation -> ASCII text that fits a ``gymnasium.spaces.Text`` (charset and length).

The text is the LLM agent's user turn (``drugenv.llm.prompts.render_observation``), at the most
detailed level that fits ``max_chars``; non-ASCII characters are transliterated (``µ`` → ``u``,
``−`` → ``-``) or replaced by ``?`` so every character is in ``TEXT_CHARSET``.
"""

from __future__ import annotations

import string
import unicodedata
from typing import Optional

from drugenv.llm.prompts import DETAIL_LEVELS, EpisodeUserTurn, render_parts, render_observation
from drugenv.models import ValidationObservation

TEXT_CHARSET: str = "".join(sorted(set(string.printable) - set("\t\r\x0b\x0c")))
"""Printable ASCII (space to ``~``) plus newline."""
MAX_OBSERVATION_CHARS = 8192
"""Longest observation text; longer renderings fall back to more compact detail levels."""
_CHARSET = frozenset(TEXT_CHARSET)
_TRANSLIT = {"−": "-", "–": "-", "—": "-", "µ": "u", "μ": "u", "≥": ">=", "≤": "<=", "→": "->", "×": "x", "·": "*",
             "±": "+/-", "’": "'", "‘": "'", "“": '"', "”": '"', "…": "...", "\t": " ", "\r": ""}


class _CharMap(dict):
    """``str.translate`` table: code point -> replacement, each computed on first sight and kept."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        if ch in _CHARSET:
            rep = ch
        else:
            known = _TRANSLIT.get(ch)
            rep = known if known is not None else unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode("ascii")
            rep = "".join(c if c in _CHARSET else "?" for c in rep) or "?"
        self[code] = rep
        return rep


_CHAR_MAP = _CharMap()


_CHARSET_BYTES = TEXT_CHARSET.encode("ascii")


def to_charset(text: str) -> str:
    """``text`` with every character mapped into ``TEXT_CHARSET`` (one C-level ``translate`` pass;
    a per-character Python loop was a third of a text-env step).

    A rendered observation is usually in the charset already: ASCII (a flag of the string) with no
    byte left once the charset's bytes are deleted; that check (two C passes over bytes) costs ~4/5
    of the translation, which would return the same text."""
    if text.isascii() and not text.encode("ascii").translate(None, _CHARSET_BYTES):
        return text
    return text.translate(_CHAR_MAP)


def render_text(obs: ValidationObservation, max_chars: Optional[int] = MAX_OBSERVATION_CHARS) -> str:
    """The most detailed rendering of ``obs`` with at most ``max_chars`` characters (``None``: no limit).
    If even the most compact level is longer, its body (dossier, history) is cut from its end and marked
    ``[truncated]``, keeping the state, the evidence table, the last output, the violations and the request
    (as ``build_messages`` cuts a prompt); only a head and tail longer than ``max_chars`` are cut themselves."""
    if max_chars is None:  # the most detailed level
        return to_charset(render_observation(obs, 0))
    text = ""
    for level in range(len(DETAIL_LEVELS)):
        text = to_charset(render_observation(obs, level))
        if len(text) <= max_chars:
            return text
    marker = "[truncated]"
    head, body, tail = (to_charset("\n".join(part)) for part in render_parts(obs, len(DETAIL_LEVELS) - 1))
    room = max_chars - len(head) - len(marker) - len(tail) - 3  # three newlines join the four parts
    if room >= 0:
        return "\n".join([head, body[:room], marker, tail])
    return text[: max(0, max_chars - len(marker) - 1)] + "\n" + marker


class EpisodeText:
    """``render_text(obs, max_chars)`` for one environment's observations in step order (the text env's
    encoder): the most detailed level is made by ``EpisodeUserTurn``, which extends the previous step's
    pieces and maps each new piece into the charset; a text longer than ``max_chars`` goes to
    ``render_text`` for the more compact levels."""

    def __init__(self, max_chars: int):
        self.max_chars = max_chars
        self._user_turn = EpisodeUserTurn(to_charset)

    def __call__(self, obs: ValidationObservation) -> str:
        text = self._user_turn(obs)
        return text if len(text) <= self.max_chars else render_text(obs, self.max_chars)


__all__ = ["EpisodeText", "MAX_OBSERVATION_CHARS", "TEXT_CHARSET", "render_text", "to_charset"]
