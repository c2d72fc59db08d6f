"""What was said when: the text of a transcript over any time span, and how its pieces join.

:func:`speech_between` answers "what was said from a to b" for every output (the 分镜 sheet, the
HTML report's shot cards, the Bitable, the 3-second hook) and also builds a transcript's whole text,
so they all agree. A word belongs to the span that holds its midpoint, so spans that partition the
video (its shots) share its words out without repeating or losing any.

A word's text carries the space that goes before it (Whisper's convention), so the words of a
segment join by plain concatenation. Segments join with ``，`` in Chinese and Japanese text (unless
the previous one already ends in punctuation) and with a space elsewhere.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from ._artifacts import Segment, Word

__all__ = [
    "CJK_CHAR",
    "is_cjk_text",
    "join_segments",
    "speech_between",
    "transcript_text",
    "words_of",
]

# Han ideographs, kana and hangul: text in these scripts is counted in characters, not words.
CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_CJK_LANGS = ("zh", "yue", "ja", "ko", "cmn")
_NO_SPACE_LANGS = ("zh", "yue", "ja", "cmn")  # written without spaces between words
_PUNCT_END = "，。！？；：、…,.!?;:"
_LEADING_JUNK = "，。！？；：、,.!?;: \t\n"


def is_cjk_text(text: str, language: str | None = None) -> bool:
    """True for a CJK ``language``, or (language unknown) text written mostly in CJK characters."""
    lang = (language or "").lower()
    if lang:
        return lang.startswith(_CJK_LANGS)
    cjk = len(CJK_CHAR.findall(text))
    return cjk > 0 and cjk >= len(re.findall(r"[A-Za-z0-9]+", text))


def _joins_tight(language: str | None, sample: str) -> bool:
    lang = (language or "").lower()
    if lang:
        return lang.startswith(_NO_SPACE_LANGS)
    return is_cjk_text(sample) and not re.search(r"[\uac00-\ud7af]", sample)


def join_segments(pieces: Iterable[str], language: str | None = None) -> str:
    """Join the texts of consecutive segments: ``，`` between Chinese clauses, a space otherwise."""
    texts = [p.strip() for p in pieces if p and p.strip()]
    if not texts:
        return ""
    tight = _joins_tight(language, "".join(texts))
    out = texts[0]
    for text in texts[1:]:
        if tight:
            out += text if out[-1] in _PUNCT_END else "，" + text
        else:
            out += " " + text
    return out


def _units(text: str) -> list[str]:
    """A segment's text cut into words (CJK: one character each, punctuation kept with the left)."""
    units: list[str] = []
    for token in re.findall(r"\s*\S+", text):
        if not CJK_CHAR.search(token):
            units.append(token)
            continue
        for ch in token.strip():
            if units and not CJK_CHAR.match(ch) and not ch.isalnum():
                units[-1] += ch
            else:
                units.append(ch)
    return units


def words_of(segment: Segment) -> list[Word]:
    """The segment's words; for a segment without them, its text spread evenly over its time."""
    if segment.words:
        return list(segment.words)
    units = _units(segment.text)
    total = sum(len(u.strip()) for u in units) or 1
    span = segment.end_s - segment.start_s
    out: list[Word] = []
    at = 0
    for unit in units:
        start = round(segment.start_s + span * at / total, 3)
        at += len(unit.strip())
        out.append(Word(start_s=start, end_s=round(segment.start_s + span * at / total, 3), text=unit))
    return out


def speech_between(
    segments: Sequence[Segment], start_s: float, end_s: float, language: str | None = None
) -> str:
    """The text said from ``start_s`` to ``end_s``: every word whose midpoint lies in ``[start_s, end_s)``."""
    pieces: list[str] = []
    for seg in segments:
        if seg.end_s < start_s or seg.start_s >= end_s:
            continue
        inside = [w.text for w in words_of(seg) if start_s <= (w.start_s + w.end_s) / 2 < end_s]
        text = "".join(inside).strip().lstrip(_LEADING_JUNK)
        if text:
            pieces.append(text)
    return join_segments(pieces, language)


def transcript_text(segments: Sequence[Segment], language: str | None = None) -> str:
    """The whole text of ``segments`` (what :func:`speech_between` gives for all time)."""
    return speech_between(segments, -math.inf, math.inf, language)
