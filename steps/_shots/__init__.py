"""Shot detection, keyframe choice, duplicate keyframes and the contact sheet, for the Shots step."""

from __future__ import annotations

from .contact_sheet import TILE_WIDTH, render_contact_sheet, sample_times, timestamp
from .dedupe import duplicate_of
from .detect import Analysis, FrameScores, analyze, default_threshold, detect_from_scores, make_detector
from .keyframes import SharpnessScorer, ShotSpan, choose_keyframes, sharpness, spans_from_cuts

__all__ = [
    "TILE_WIDTH",
    "Analysis",
    "FrameScores",
    "SharpnessScorer",
    "ShotSpan",
    "analyze",
    "choose_keyframes",
    "default_threshold",
    "detect_from_scores",
    "duplicate_of",
    "make_detector",
    "render_contact_sheet",
    "sample_times",
    "sharpness",
    "spans_from_cuts",
    "timestamp",
]
