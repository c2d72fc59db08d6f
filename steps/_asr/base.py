"""The interface every speech-to-text engine implements, and what engines share."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from .._artifacts import Segment

__all__ = ["TranscriptionEngine", "clean_segments"]


@runtime_checkable
class TranscriptionEngine(Protocol):
    """A speech recogniser: ``transcribe`` a 16-bit WAV into a language and timed segments.

    ``name`` and ``model`` identify the engine in the transcript record (and for idempotency);
    constructing an engine is cheap, the model loads on :meth:`load` or the first ``transcribe``.
    """

    name: str
    model: str

    def load(self) -> None:
        """Load the model now (once per process), so the first ``transcribe`` does not wait for it."""
        ...

    def transcribe(self, wav_path: Path) -> tuple[str | None, list[Segment]]:
        """Recognise the speech in ``wav_path``; segments are in time order, in seconds."""
        ...


def clean_segments(raw: list[tuple[float, float, str]], duration_s: float) -> list[Segment]:
    """Segments with text, clamped to ``[0, duration_s]``, rounded to milliseconds, in time order."""
    out: list[Segment] = []
    for start, end, text in sorted(raw, key=lambda item: item[0]):
        words = " ".join(text.split())
        start_s = round(min(max(start, 0.0), duration_s), 3)
        end_s = round(min(max(end, start_s), duration_s), 3)
        if words and end_s > start_s:
            out.append(Segment(start_s=start_s, end_s=end_s, text=words))
    return out
