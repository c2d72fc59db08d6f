"""The interface every speech-to-text engine implements, and what engines share."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from .._artifacts import Segment, Word
from .text import is_chinese, normalize_text, normalize_words

__all__ = ["EmptyReason", "RawSegment", "Transcription", "TranscriptionEngine", "build_segments"]

EmptyReason = Literal["no_speech", "unsupported_language"]
RawWord = tuple[float, float, str]
_SPOKEN = re.compile(r"\w")  # letters, digits or CJK characters


@dataclass(frozen=True)
class RawSegment:
    """A segment as an engine returns it: times in seconds, text, and word timings when it has them."""

    start: float
    end: float
    text: str
    words: Sequence[RawWord] = ()


@dataclass(frozen=True)
class Transcription:
    """What an engine heard: segments, or none with the reason (``empty_reason``)."""

    language: str | None
    segments: list[Segment] = field(default_factory=list)
    language_probability: float | None = None
    empty_reason: EmptyReason | None = None

    @classmethod
    def empty(
        cls, reason: EmptyReason, language: str | None = None, probability: float | None = None
    ) -> Transcription:
        """No transcript, and why."""
        return cls(language, [], probability, reason)


@runtime_checkable
class TranscriptionEngine(Protocol):
    """A speech recogniser: ``transcribe`` a 16-bit WAV into timed segments and the language.

    ``name`` and ``model`` identify the engine in the transcript record (and for idempotency);
    constructing an engine is cheap: the model loads on :meth:`load` or the first ``transcribe``,
    once per process.
    """

    name: str
    model: str

    def load(self) -> None:
        """Load the model now (once per process), so the first video does not wait for it."""
        ...

    def transcribe(self, wav_path: Path) -> Transcription:
        """Recognise the speech in ``wav_path``; segments are in time order, in seconds."""
        ...


def _clamp(value: float, low: float, high: float) -> float:
    return round(min(max(value, low), high), 3)


def _segment(raw: RawSegment, duration_s: float, chinese: bool) -> Segment | None:
    start = _clamp(raw.start, 0.0, duration_s)
    end = _clamp(raw.end, start, duration_s)
    words = []
    for w_start, w_end, text in raw.words:
        ws = _clamp(w_start, start, end)
        if text.strip():
            words.append(Word(start_s=ws, end_s=_clamp(w_end, ws, end), text=text))
    if chinese:
        words = normalize_words(words)
    if words:
        words[0] = words[0].model_copy(update={"text": words[0].text.lstrip()})
        text = "".join(w.text for w in words).strip()
    else:
        text = normalize_text(raw.text) if chinese else " ".join(raw.text.split())
    if not _SPOKEN.search(text) or end <= start:
        return None  # nothing, or only symbols such as "♪"
    return Segment(start_s=start, end_s=end, text=text, words=words)


def build_segments(raw: Sequence[RawSegment], duration_s: float, language: str | None) -> list[Segment]:
    """Segments with text, clamped to ``[0, duration_s]`` (ms precision), in time order.

    Chinese comes out in simplified characters with full-width punctuation; words stay inside
    their segment.
    """
    out: list[Segment] = []
    for item in sorted(raw, key=lambda r: r.start):
        seg = _segment(item, duration_s, is_chinese(item.text, language))
        if seg is not None:
            out.append(seg)
    return out
