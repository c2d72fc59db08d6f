"""Shot detection, keyframe choice, duplicate keyframes and the contact sheet, for the Shots step."""

from __future__ import annotations

from .contact_sheet import TILE_WIDTH, render_contact_sheet, sample_times, timestamp
from .dedupe import duplicate_of
from .detect import Analysis, FrameScores, Scan, analyze, detect_cuts, replayable
from .keyframes import SharpnessScorer, ShotSpan, choose_keyframes, sharpness, spans_from_cuts
from .rules import DETECTORS, CutRule, DetectorName, ScoreTrack, default_threshold, make_rule
from .transnet import transnet_available

__all__ = [
    "DETECTORS",
    "TILE_WIDTH",
    "Analysis",
    "CutRule",
    "DetectorName",
    "FrameScores",
    "Scan",
    "ScoreTrack",
    "SharpnessScorer",
    "ShotSpan",
    "analyze",
    "choose_keyframes",
    "default_threshold",
    "detect_cuts",
    "duplicate_of",
    "make_rule",
    "render_contact_sheet",
    "replayable",
    "sample_times",
    "sharpness",
    "spans_from_cuts",
    "timestamp",
    "transnet_available",
]
