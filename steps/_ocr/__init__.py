"""On-screen text (OCR): the reader, junk filtering and kinds, still pictures, the subtitle track."""

from __future__ import annotations

from .lines import MIN_CONFIDENCE, TextKind, clean_lines, distinct_lines, line_kind, normalized, same_text
from .pictures import PictureTexts, read_pictures
from .reader import ENGINE, MODEL, RawLine, TextReader, text_reader
from .track import SubtitleTrack, read_subtitle_track

__all__ = [
    "ENGINE",
    "MIN_CONFIDENCE",
    "MODEL",
    "PictureTexts",
    "RawLine",
    "SubtitleTrack",
    "TextKind",
    "TextReader",
    "clean_lines",
    "distinct_lines",
    "line_kind",
    "normalized",
    "read_pictures",
    "read_subtitle_track",
    "same_text",
    "text_reader",
]
