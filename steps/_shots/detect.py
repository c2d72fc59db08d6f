"""Shot detection: PySceneDetect's detectors fed from one decoding pass, with a per-frame score cache.

The driver (:func:`analyze`) decodes a video once at analysis resolution and measures every frame
(content score, sharpness), and renders the few frames wanted at other sizes (contact-sheet tiles)
while they are current. Cut decisions are PySceneDetect's AdaptiveDetector/ContentDetector, fed the
content score instead of the image (:class:`_ScoreFeed`). The scores are kept (:class:`FrameScores`),
so a different detector or threshold later replays them (:func:`detect_from_scores`) without
decoding again: both detectors judge the same score.

Throughput (bench/shots.py, 2 cores): the pass runs within 1.0-1.2x of a bare decode of the same
file, because (1) decoding runs in its own thread (PyAV releases the GIL) while this thread scores
frames, (2) H.264/HEVC deblocking is skipped (about 13 % less decoding CPU; cut F1 and keyframe
picks unchanged), (3) swscale shrinks straight to I420 (cheaper than to BGR) and OpenCV computes the
content score (about 3x cheaper than PySceneDetect's NumPy code, same value). A smaller analysis
width (160 px) was measured too: little faster on 720p (decoding dominates), and AdaptiveDetector
lost a cut of bikes.mp4, so the width stays PySceneDetect's 256.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scenedetect import AdaptiveDetector, ContentDetector

from .._media.frames import ANALYSIS_WIDTH, DecodedFrame, VideoStream
from .._workspace import atomic_write_bytes
from .keyframes import SharpnessScorer
from .prefetch import prefetched
from .score import ContentScore, i420_luma, i420_to_bgr

__all__ = ["Analysis", "FrameScores", "analyze", "default_threshold", "detect_from_scores", "make_detector"]

DetectorName = Literal["adaptive", "content"]
SCORES_VERSION = 2  # 2: scores of the fast I420 pass (see analyze)


class _ScoreFeed:
    """Mixin over a PySceneDetect content-based detector (scenedetect 0.6): the frame score comes
    from :meth:`feed` instead of the detector's own ``_calculate_frame_score``, so the decision
    logic (threshold, adaptive window, minimum shot length, flash filter) stays PySceneDetect's
    while the score is computed once, cheaply (:class:`.score.ContentScore`), or replayed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fed = 0.0

    def feed(self, frame_num: int, score: float) -> list[int]:
        """Process frame ``frame_num`` (sequential) whose content score is ``score``; new cuts."""
        self._fed = score
        return self.process_frame(frame_num, None)  # type: ignore[attr-defined,no-any-return]

    def _calculate_frame_score(self, frame_num: int, frame_img: np.ndarray | None) -> float:
        return self._fed


class _Content(_ScoreFeed, ContentDetector):
    pass


class _Adaptive(_ScoreFeed, AdaptiveDetector):
    pass


def default_threshold(detector: DetectorName) -> float:
    """PySceneDetect's default threshold for ``detector``."""
    return 3.0 if detector == "adaptive" else 27.0


def make_detector(
    detector: DetectorName, threshold: float | None, min_shot_frames: int
) -> _Content | _Adaptive:
    """A PySceneDetect detector fed scores; ``threshold`` is the adaptive ratio or the content score."""
    value = default_threshold(detector) if threshold is None else threshold
    if detector == "adaptive":
        return _Adaptive(adaptive_threshold=value, min_scene_len=min_shot_frames)
    if detector == "content":
        return _Content(threshold=value, min_scene_len=min_shot_frames)
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
        """Write to ``path`` (``.npz``) atomically (a unique temp name: two runs never collide)."""
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            times_s=self.times_s,
            content=self.content,
            sharpness=self.sharpness,
            keyframes_s=self.keyframes_s,
            meta=np.array([str(SCORES_VERSION), str(self.width), self.source_sha256]),
        )
        atomic_write_bytes(path, buf.getvalue())

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

    Decoding (without deblocking, scaled straight to small planar I420) runs in a background
    thread; this thread turns each small frame into a content score and a sharpness score and
    feeds the score to the PySceneDetect detector.

    Args:
        renders: frame index → width of an RGB rendering of that frame (None: full resolution).
            Indices past the end render the last frame.
    """
    det = make_detector(detector, threshold, min_shot_frames)
    content = ContentScore()
    sharp = SharpnessScorer()
    times: list[float] = []
    keys: list[float] = []
    cuts: list[int] = []
    contents: list[float] = []
    out: dict[int, np.ndarray] = {}
    last = -1
    with closing(prefetched(_decode(video, width, dict(renders or {})))) as frames:
        for frame in frames:
            out.update(frame.renders)
            if frame.image is None:  # the tail: renders wanted past the end
                continue
            score = content(i420_to_bgr(frame.image))
            contents.append(score)
            cuts.extend(det.feed(frame.index, score))
            sharp.process_frame(frame.index, i420_luma(frame.image))
            times.append(frame.time_s)
            if frame.key:
                keys.append(frame.time_s)
            last = frame.index
    if last >= 0:
        cuts.extend(det.post_process(last))
    scores = FrameScores(
        np.asarray(times, dtype=np.float64),
        np.asarray(contents, dtype=np.float32),
        np.asarray(sharp.scores, dtype=np.float32),
        np.asarray(keys, dtype=np.float64),
        width,
    )
    return Analysis(scores, _clean(cuts, len(times)), out)


@dataclass
class _Small:
    """One frame of the fast pass, as handed from the decoding thread."""

    index: int
    time_s: float
    key: bool
    image: np.ndarray | None  # planar I420 at analysis size; None for the tail item
    renders: dict[int, np.ndarray]


def _decode(video: VideoStream, width: int, wanted: dict[int, int | None]) -> Iterator[_Small]:
    """The fast pass, rendering wanted frames while they are current (runs in the decoding thread)."""
    last: DecodedFrame | None = None
    for frame in video.frames(width, fmt="yuv420p", fast=True):
        renders = {frame.index: frame.render(wanted.pop(frame.index))} if frame.index in wanted else {}
        yield _Small(frame.index, frame.time_s, frame.key, frame.image, renders)
        last = frame
    if last is not None and wanted:  # past the end: the last frame stands in
        yield _Small(-1, 0.0, False, None, {index: last.render(w) for index, w in wanted.items()})


def detect_from_scores(
    scores: FrameScores, *, detector: DetectorName, threshold: float | None, min_shot_frames: int
) -> list[int]:
    """Cuts from saved content scores, exactly as a decoding pass would find them."""
    det = make_detector(detector, threshold, min_shot_frames)
    cuts: list[int] = []
    n = len(scores.content)
    for index in range(n):
        cuts.extend(det.feed(index, float(scores.content[index])))
    if n:
        cuts.extend(det.post_process(n - 1))
    return _clean(cuts, n)


def _clean(cuts: list[int], frame_count: int) -> list[int]:
    return sorted({int(c) for c in cuts if 0 < int(c) < frame_count})
