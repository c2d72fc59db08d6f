"""Shot detection: PySceneDetect's detectors fed from one decoding pass, with a per-frame score cache.

The driver (:func:`analyze`) decodes a video once at analysis resolution and hands every frame to
the shot detector and the sharpness scorer, and renders the few frames wanted at other sizes
(contact-sheet tiles, screenshots) while they are current. The content score of each frame is kept
(:class:`FrameScores`), so a different detector or threshold later replays the scores
(:func:`detect_from_scores`) without decoding again: both detectors judge the same score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scenedetect import AdaptiveDetector, ContentDetector

from .._media.frames import ANALYSIS_WIDTH, VideoStream
from .keyframes import SharpnessScorer

__all__ = ["Analysis", "FrameScores", "analyze", "default_threshold", "detect_from_scores", "make_detector"]

DetectorName = Literal["adaptive", "content"]
SCORES_VERSION = 1


class _ScoreTap:
    """Mixin over a PySceneDetect content-based detector: records each frame's content score, or
    replays recorded ones instead of computing them (scenedetect 0.6's ``_calculate_frame_score``)."""

    def __init__(self, *args: Any, replay: np.ndarray | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scores: list[float] = []
        self._replay = replay

    def _calculate_frame_score(self, frame_num: int, frame_img: np.ndarray | None) -> float:
        if self._replay is not None:
            return float(self._replay[frame_num])
        score = float(super()._calculate_frame_score(frame_num, frame_img))  # type: ignore[misc]
        self.scores.append(score)
        return score


class _Content(_ScoreTap, ContentDetector):
    pass


class _Adaptive(_ScoreTap, AdaptiveDetector):
    pass


def default_threshold(detector: DetectorName) -> float:
    """PySceneDetect's default threshold for ``detector``."""
    return 3.0 if detector == "adaptive" else 27.0


def make_detector(
    detector: DetectorName, threshold: float | None, min_shot_frames: int, replay: np.ndarray | None = None
) -> _Content | _Adaptive:
    """A PySceneDetect detector; ``threshold`` is the adaptive ratio or the content score."""
    value = default_threshold(detector) if threshold is None else threshold
    if detector == "adaptive":
        return _Adaptive(adaptive_threshold=value, min_scene_len=min_shot_frames, replay=replay)
    if detector == "content":
        return _Content(threshold=value, min_scene_len=min_shot_frames, replay=replay)
    raise ValueError(f"unknown shot detector {detector!r}")


@dataclass
class FrameScores:
    """Per-frame measurements of one analysis pass, saved beside the video's artifacts."""

    times_s: np.ndarray  # presentation time of each frame
    content: np.ndarray  # PySceneDetect content score (0 for the first frame)
    sharpness: np.ndarray  # variance of the Laplacian on the analysis-size gray frame
    keyframes_s: np.ndarray  # times of bitstream keyframes (cheap seek targets)
    width: int  # analysis width
    source_sha256: str = ""

    def save(self, path: Path) -> None:
        """Write to ``path`` (``.npz``) atomically."""
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez_compressed(
            tmp,
            times_s=self.times_s,
            content=self.content,
            sharpness=self.sharpness,
            keyframes_s=self.keyframes_s,
            meta=np.array([str(SCORES_VERSION), str(self.width), self.source_sha256]),
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> FrameScores | None:
        """The scores in ``path``, or None when missing, unreadable or of another version."""
        try:
            with np.load(path) as data:
                version, width, sha = (str(x) for x in data["meta"])
                if version != str(SCORES_VERSION):
                    return None
                return cls(
                    data["times_s"], data["content"], data["sharpness"], data["keyframes_s"], int(width), sha
                )
        except (OSError, KeyError, ValueError):
            return None


@dataclass
class Analysis:
    """What one decoding pass produced."""

    scores: FrameScores
    cuts: list[int]  # first frame of every shot after the first
    renders: dict[int, np.ndarray] = field(default_factory=dict)  # frame index → RGB image

    @property
    def frame_count(self) -> int:
        return len(self.scores.times_s)


def analyze(
    video: VideoStream,
    *,
    detector: DetectorName,
    threshold: float | None,
    min_shot_frames: int,
    renders: Mapping[int, int | None] | None = None,
    width: int = ANALYSIS_WIDTH,
) -> Analysis:
    """Decode ``video`` once: detect cuts, score sharpness, and render chosen frames.

    Args:
        renders: frame index → width of an RGB rendering of that frame (None: full resolution).
            Indices past the end render the last frame.
    """
    wanted = dict(renders or {})
    det = make_detector(detector, threshold, min_shot_frames)
    sharp = SharpnessScorer()
    times: list[float] = []
    keys: list[float] = []
    cuts: list[int] = []
    out: dict[int, np.ndarray] = {}
    last = None
    for frame in video.frames(width):
        cuts.extend(det.process_frame(frame.index, frame.image))
        sharp.process_frame(frame.index, frame.image)
        times.append(frame.time_s)
        if frame.key:
            keys.append(frame.time_s)
        if frame.index in wanted:
            out[frame.index] = frame.render(wanted.pop(frame.index))
        last = frame
    if last is not None:
        cuts.extend(det.post_process(last.index))
        for index, w in wanted.items():  # past the end: the last frame stands in
            out[index] = last.render(w)
    scores = FrameScores(
        np.asarray(times, dtype=np.float64),
        np.asarray(det.scores, dtype=np.float32),
        np.asarray(sharp.scores, dtype=np.float32),
        np.asarray(keys, dtype=np.float64),
        width,
    )
    return Analysis(scores, _clean(cuts, len(times)), out)


def detect_from_scores(
    scores: FrameScores, *, detector: DetectorName, threshold: float | None, min_shot_frames: int
) -> list[int]:
    """Cuts from saved content scores, exactly as a decoding pass would find them."""
    det = make_detector(detector, threshold, min_shot_frames, replay=scores.content)
    cuts: list[int] = []
    n = len(scores.content)
    for index in range(n):
        cuts.extend(det.process_frame(index, None))
    if n:
        cuts.extend(det.post_process(n - 1))
    return _clean(cuts, n)


def _clean(cuts: list[int], frame_count: int) -> list[int]:
    return sorted({int(c) for c in cuts if 0 < int(c) < frame_count})
