"""Keyframe choice: the sharpest frame of each shot, away from its cut edges."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["SharpnessScorer", "ShotSpan", "choose_keyframes", "sharpness", "spans_from_cuts"]

EDGE_FRACTION = 0.1  # skip this share of a shot's frames at each end (fades, motion blur at cuts)
MAX_EDGE_FRAMES = 12


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of ``image`` (BGR or gray): higher means more fine detail."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    _, std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_16S, ksize=1))
    return float(std[0][0] ** 2)


class SharpnessScorer:
    """Fed frames like a PySceneDetect detector; keeps one sharpness score per frame."""

    def __init__(self) -> None:
        self.scores: list[float] = []

    def process_frame(self, frame_num: int, frame_img: np.ndarray) -> None:
        """Score the next frame (``frame_num`` must be sequential from 0)."""
        if frame_num != len(self.scores):
            raise ValueError(f"frames must arrive in order: expected {len(self.scores)}, got {frame_num}")
        self.scores.append(sharpness(frame_img))


@dataclass(frozen=True)
class ShotSpan:
    """One shot as a half-open frame range ``[start, end)``."""

    start: int
    end: int


def spans_from_cuts(cuts: Sequence[int], frame_count: int) -> list[ShotSpan]:
    """Shots between cuts (a video without cuts is one shot)."""
    bounds = [0, *sorted(c for c in cuts if 0 < c < frame_count), frame_count]
    return [ShotSpan(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def choose_keyframes(spans: Sequence[ShotSpan], scores: np.ndarray) -> list[int]:
    """The frame index of the sharpest frame inside each shot, skipping frames near its cuts.

    Frames without a score (NaN: a coarse scan measured only some) are not candidates; a shot
    with no measured frame away from its edges gets its middle frame.
    """
    chosen: list[int] = []
    for span in spans:
        length = span.end - span.start
        edge = min(MAX_EDGE_FRAMES, int(length * EDGE_FRACTION))
        lo, hi = span.start + edge, span.end - edge
        window = scores[lo:hi]
        if len(window) == 0 or np.isnan(window).all():
            chosen.append(span.start + length // 2)
            continue
        # The first of the (near-)sharpest frames: ties go to the earlier, steadier frame.
        best = float(np.nanmax(window))
        with np.errstate(invalid="ignore"):
            chosen.append(lo + int(np.argmax(window >= best * 0.999)))
    return chosen
