"""SRT (through the ``srt`` library) and WebVTT files from transcript segments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import srt

from .._artifacts import Segment
from .._workspace import atomic_write_bytes

__all__ = ["to_srt", "to_vtt", "write_subtitles"]


def to_srt(segments: Sequence[Segment]) -> str:
    """SubRip text, one cue per segment."""
    cues = [
        srt.Subtitle(
            index=i,
            start=timedelta(seconds=seg.start_s),
            end=timedelta(seconds=seg.end_s),
            content=seg.text,
        )
        for i, seg in enumerate(segments, start=1)
    ]
    return srt.compose(cues, reindex=False)


def _vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"


def to_vtt(segments: Sequence[Segment]) -> str:
    """WebVTT text, one numbered cue per segment (``-->`` in a cue's text is escaped)."""
    lines = ["WEBVTT", ""]
    for i, seg in enumerate(segments, start=1):
        text = seg.text.replace("-->", "->")
        lines += [str(i), f"{_vtt_time(seg.start_s)} --> {_vtt_time(seg.end_s)}", text, ""]
    return "\n".join(lines)


def write_subtitles(segments: Sequence[Segment], srt_path: Path, vtt_path: Path) -> None:
    """Write both subtitle files atomically."""
    atomic_write_bytes(srt_path, to_srt(segments).encode("utf-8"))
    atomic_write_bytes(vtt_path, to_vtt(segments).encode("utf-8"))
