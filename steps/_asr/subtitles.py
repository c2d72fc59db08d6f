"""SRT (through the ``srt`` library) and WebVTT files from transcript segments, in readable cues.

A segment longer than a cue should be (18 characters of Chinese, 84 of Latin text, 6 seconds) is
split at its words: after a sentence end if there is one, else after a comma or at a pause, else
before the word that would overflow. A Chinese comma that ends a cue is left out, as subtitles do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import srt

from .._artifacts import Segment, Word
from .._speech import is_cjk_text, words_of
from .._workspace import atomic_write_bytes

__all__ = ["subtitle_cues", "to_srt", "to_vtt", "write_subtitles"]

MAX_CUE_S = 6.0
MAX_CJK_CHARS = 18
MAX_LATIN_CHARS = 84
PAUSE_S = 0.35
_SENTENCE_END = "。！？.!?…"
_CLAUSE_END = "，、；：,;:"


def _text(words: Sequence[Word]) -> str:
    """A cue's text; a Chinese comma at the end of a line is dropped, as subtitles do."""
    text = "".join(w.text for w in words).strip().lstrip(_CLAUSE_END + _SENTENCE_END).strip()
    return text.rstrip("，、")


def _break_at(cue: list[Word], following: Word) -> int:
    """Where to end ``cue`` (an index into it): the last sentence end, else clause end or pause."""
    best_clause = 0
    for k in range(len(cue), 0, -1):
        last = cue[k - 1].text.rstrip()
        nxt = cue[k] if k < len(cue) else following
        if last[-1:] in _SENTENCE_END:
            return k
        if not best_clause and (last[-1:] in _CLAUSE_END or nxt.start_s - cue[k - 1].end_s >= PAUSE_S):
            best_clause = k
    return best_clause or len(cue)


def _split(segment: Segment, max_chars: int) -> list[Segment]:
    cues: list[list[Word]] = []
    cue: list[Word] = []
    for word in words_of(segment):
        if cue and (len(_text([*cue, word])) > max_chars or word.end_s - cue[0].start_s > MAX_CUE_S):
            k = _break_at(cue, word)
            cues.append(cue[:k])
            cue = cue[k:]
        cue.append(word)
    cues.append(cue)
    out = []
    for words in cues:
        text = _text(words)
        if text:
            start, end = words[0].start_s, max(words[-1].end_s, words[0].start_s)
            out.append(Segment(start_s=start, end_s=end, text=text))
    return out


def subtitle_cues(segments: Sequence[Segment], language: str | None = None) -> list[Segment]:
    """The cues to show: each segment, split where it is too long to read at once."""
    out: list[Segment] = []
    for seg in segments:
        max_chars = MAX_CJK_CHARS if is_cjk_text(seg.text, language) else MAX_LATIN_CHARS
        fits = len(seg.text) <= max_chars and seg.end_s - seg.start_s <= MAX_CUE_S
        if fits:
            out.append(Segment(start_s=seg.start_s, end_s=seg.end_s, text=seg.text))
        else:
            out.extend(_split(seg, max_chars))
    return out


def to_srt(segments: Sequence[Segment], language: str | None = None) -> str:
    """SubRip text, one or more cues per segment."""
    cues = [
        srt.Subtitle(
            index=i,
            start=timedelta(seconds=cue.start_s),
            end=timedelta(seconds=cue.end_s),
            content=cue.text,
        )
        for i, cue in enumerate(subtitle_cues(segments, language), start=1)
    ]
    return srt.compose(cues, reindex=False)


def _vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def to_vtt(segments: Sequence[Segment], language: str | None = None) -> str:
    """WebVTT text, numbered cues (``-->`` in a cue's text is escaped)."""
    lines = ["WEBVTT", ""]
    for i, cue in enumerate(subtitle_cues(segments, language), start=1):
        text = cue.text.replace("-->", "->")
        lines += [str(i), f"{_vtt_time(cue.start_s)} --> {_vtt_time(cue.end_s)}", text, ""]
    return "\n".join(lines)


def write_subtitles(
    segments: Sequence[Segment], srt_path: Path, vtt_path: Path, language: str | None = None
) -> None:
    """Write both subtitle files atomically."""
    atomic_write_bytes(srt_path, to_srt(segments, language).encode("utf-8"))
    atomic_write_bytes(vtt_path, to_vtt(segments, language).encode("utf-8"))
