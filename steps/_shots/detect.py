"""Shot detection over one decoding pass, with a per-frame score cache.

The full pass (:func:`analyze`) decodes a video once at analysis resolution and measures every
frame (content score, colour-histogram distance, sharpness), renders the few frames wanted at
other sizes (contact-sheet tiles) while they are current, and, in the accuracy mode, feeds
TransNetV2. Cuts are decided from the kept scores (:func:`detect_cuts`, rules in :mod:`.rules`),
so a different detector or threshold later replays them (:class:`FrameScores`) without decoding
again. :mod:`.coarse` fills the same scores sparsely, measuring only where a cut can be.

Throughput (bench/shots.py, 2 cores): the full pass runs within 1.0-1.2x of a bare decode of the
same file, because (1) decoding runs in its own thread (PyAV releases the GIL) while this thread
scores frames, (2) H.264/HEVC deblocking is skipped (about 13 % less decoding CPU; cut F1 and
keyframe picks unchanged), (3) swscale shrinks straight to I420 (cheaper than to BGR) and OpenCV
computes the scores (about 3x cheaper than PySceneDetect's NumPy code, same value), (4) given
the packet index, stretches of the video are decoded side by side (:mod:`.stretches`: one
decoder's frame threading keeps about 1.5 of 2 cores busy). A smaller
analysis width (160 px) was measured too: little faster on 720p (decoding dominates), and
AdaptiveDetector lost a cut of bikes.mp4, so the width stays PySceneDetect's 256.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._logging import get_logger
from .._media.frames import ANALYSIS_WIDTH, DecodedFrame, VideoStream, open_video, usable_cores
from .._media.packets import PacketIndex
from .._workspace import atomic_write_bytes
from .prefetch import prefetched, prefetched_all
from .rules import LAG, DetectorName, ScoreTrack, default_threshold, make_rule
from .score import FrameMeter, LaggedColours, i420_to_bgr
from .stretches import owned_by, stretches, threads_each
from .transnet import TransNetScorer, cuts_from_probabilities

__all__ = ["Analysis", "FrameScores", "Scan", "ScoreColumns", "analyze", "detect_cuts", "replayable"]

SCORES_VERSION = 3  # 3: histogram distances, NaN for frames a coarse scan did not measure
_COLUMNS = ("content", "hist", "layout", "lagged", "sharpness")
log = get_logger(__name__)


@dataclass(frozen=True)
class Scan:
    """Which pass measured a video, and what it cost."""

    path: str  # "full" or "coarse"
    reason: str  # why this path ran
    frames_decoded: int
    frame_count: int
    detector: str = ""  # the detector a coarse scan measured for (it measures what that one needs)


@dataclass
class FrameScores:
    """Per-frame measurements of one analysis pass, saved beside the video's artifacts.

    Arrays hold one value per frame, NaN for frames the pass did not measure.
    """

    times_s: np.ndarray  # presentation time of each frame
    content: np.ndarray  # PySceneDetect content score against the previous frame (0 for frame 0)
    hist: np.ndarray  # colour-histogram distance against the previous frame (0 for frame 0)
    layout: np.ndarray  # change of the coarse layout against the previous frame (0 for frame 0)
    lagged: np.ndarray  # colour-histogram distance between frames t - 1 and t + LAG
    sharpness: np.ndarray  # variance of the Laplacian on the analysis-size gray frame
    keyframes_s: np.ndarray  # times of bitstream keyframes (cheap seek targets)
    width: int  # analysis width
    scan: Scan
    transnet: np.ndarray | None = None  # TransNetV2 transition probability per frame
    source_sha256: str = ""

    @property
    def track(self) -> ScoreTrack:
        return ScoreTrack(self.content, self.hist, self.lagged, self.layout)

    def save(self, path: Path) -> None:
        """Write to ``path`` (``.npz``) atomically (a unique temp name: two runs never collide)."""
        buf = io.BytesIO()
        scan = self.scan
        extra: dict[str, Any] = {} if self.transnet is None else {"transnet": self.transnet}
        np.savez_compressed(
            buf,
            times_s=self.times_s,
            content=self.content,
            hist=self.hist,
            layout=self.layout,
            lagged=self.lagged,
            sharpness=self.sharpness,
            keyframes_s=self.keyframes_s,
            meta=np.array([str(SCORES_VERSION), str(self.width), self.source_sha256]),
            scan=np.array(
                [scan.path, scan.reason, str(scan.frames_decoded), str(scan.frame_count), scan.detector]
            ),
            **extra,
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
                kind, reason, decoded, count, detector = (str(x) for x in data["scan"])
                return cls(
                    data["times_s"],
                    data["content"],
                    data["hist"],
                    data["layout"],
                    data["lagged"],
                    data["sharpness"],
                    data["keyframes_s"],
                    int(width),
                    Scan(kind, reason, int(decoded), int(count), detector),
                    data["transnet"] if "transnet" in data.files else None,
                    sha,
                )
        except (OSError, KeyError, ValueError):
            return None


# A coarse scan for the first detector measures everything the second one needs.
_COVERS = {("hybrid", "hybrid"), ("hybrid", "adaptive"), ("adaptive", "adaptive")}


def replayable(scores: FrameScores, detector: DetectorName, threshold: float | None, min_frames: int) -> bool:
    """Whether ``scores`` decide ``detector``'s cuts exactly as a new pass would."""
    if detector == "transnet":
        return scores.transnet is not None
    if scores.scan.path == "full":
        return True
    covered = (scores.scan.detector, detector) in _COVERS
    return covered and make_rule(detector, threshold, min_frames).sparse_ok


def detect_cuts(
    scores: FrameScores, *, detector: DetectorName, threshold: float | None, min_shot_frames: int
) -> list[int]:
    """The first frame of every shot after the first, from saved scores."""
    if detector == "transnet":
        if scores.transnet is None:
            raise ValueError("these scores were measured without TransNetV2")
        value = default_threshold(detector) if threshold is None else threshold
        return cuts_from_probabilities(scores.transnet, value, min_shot_frames)
    return make_rule(detector, threshold, min_shot_frames).cuts(scores.track)


@dataclass
class Analysis:
    """What one decoding pass produced."""

    scores: FrameScores
    renders: dict[int, np.ndarray] = field(default_factory=dict)  # frame index → RGB image

    @property
    def frame_count(self) -> int:
        return len(self.scores.times_s)


class ScoreColumns:
    """Per-frame measurements filled in as frames are measured (NaN until then).

    Frames measured one after the other get their change scores; a frame whose predecessor was
    not measured just before it (:meth:`restart`, or a gap) gets only its sharpness.
    """

    def __init__(self, frame_count: int) -> None:
        self.content = np.full(frame_count, np.nan)
        self.hist = np.full(frame_count, np.nan)
        self.layout = np.full(frame_count, np.nan)
        self.lagged = np.full(frame_count, np.nan)
        self.sharpness = np.full(frame_count, np.nan, dtype=np.float32)
        self._meter = FrameMeter()
        self._colours = LaggedColours(LAG)
        self._last = -2

    def restart(self) -> None:
        """The next frame measured does not follow the last one (a new decoding run)."""
        self._last = -2

    def measure(self, index: int, image: np.ndarray) -> None:
        """Measure frame ``index`` from its analysis-size planar I420 image."""
        if index >= len(self.content):
            self._grow(max(index + 1, 2 * len(self.content)))
        m = self._meter.measure(image, first=index == 0, follows=self._last == index - 1)
        self._last = index
        self.sharpness[index] = m.sharpness
        if not math.isnan(m.content):  # a frame measured again after a gap keeps its scores
            self.content[index], self.hist[index], self.layout[index] = m.content, m.hist, m.layout
        lagged = self._colours.add(index, m.colours)
        if lagged is not None:
            self.lagged[lagged[0]] = lagged[1]

    @classmethod
    def merged(cls, parts: Sequence[ScoreColumns]) -> ScoreColumns:
        """The measurements of several decoders (of stretches of one video) as one: each value
        from the first part that measured it (parts measure the same pixels, so they agree)."""
        out = parts[0]
        for part in parts[1:]:
            size = max(len(out.content), len(part.content))
            out._grow(size)
            part._grow(size)
            for name in _COLUMNS:
                mine, theirs = getattr(out, name), getattr(part, name)
                gap = np.isnan(mine)
                mine[gap] = theirs[gap]
        return out

    def _grow(self, size: int) -> None:
        extra = size - len(self.content)
        if extra <= 0:
            return
        for name in _COLUMNS:
            column = getattr(self, name)
            setattr(self, name, np.concatenate([column, np.full(extra, np.nan, dtype=column.dtype)]))

    def scores(self, times_s: np.ndarray, keyframes_s: np.ndarray, width: int, scan: Scan) -> FrameScores:
        """The measurements as :class:`FrameScores` for ``len(times_s)`` frames."""
        n = len(times_s)
        if n > len(self.content):
            self._grow(n)
        return FrameScores(
            times_s,
            self.content[:n],
            self.hist[:n],
            self.layout[:n],
            self.lagged[:n],
            self.sharpness[:n],
            keyframes_s,
            width,
            scan,
        )


def analyze(
    video: VideoStream,
    *,
    renders: Mapping[int, int | None] | None = None,
    transnet: bool = False,
    width: int = ANALYSIS_WIDTH,
    reason: str = "every frame",
    tap: Callable[[DecodedFrame], None] | None = None,
    index: PacketIndex | None = None,
    decoders: int | None = None,
) -> Analysis:
    """Decode every frame of ``video`` once: measure it, render chosen frames, feed TransNetV2.

    Decoding (without deblocking, scaled straight to small planar I420) runs in a background
    thread; this thread measures each small frame. Given the stream's packet ``index`` (and no
    TransNetV2, which needs the frames in order), stretches of the video are decoded side by
    side, one decoder per core (:mod:`.stretches`): the same scores, sooner.

    Args:
        renders: frame index → width of an RGB rendering of that frame (None: full resolution).
            Indices past the end render the last frame.
        transnet: also run TransNetV2 (the accuracy mode) over every frame.
        reason: why the full pass runs (recorded with the scores).
        tap: shown every decoded frame, in the decoding thread, while it is current (the subtitle
            band sampler; in presentation order within each stretch, from one thread per stretch).
        index: the packet index of ``video`` (:func:`.packets.read_packet_index`), if read.
        decoders: decoders side by side (default: one per usable core, for a long enough video).
    """
    if index is not None and not transnet:
        every = np.ones(index.frame_count, dtype=bool)
        parts = stretches(index, every, decoders, frame_pixels=math.prod(video.frame_size))
        if len(parts) > 1:
            split = _analyze_stretches(video.path, index, parts, dict(renders or {}), width, reason, tap)
            if split is not None:
                return split
    net = TransNetScorer() if transnet else None
    cols = ScoreColumns(max(1, round(video.duration * float(video.frame_rate)) + 2))
    times: list[float] = []
    keys: list[float] = []
    out: dict[int, np.ndarray] = {}
    with closing(prefetched(_decode(video, width, dict(renders or {}), tap))) as frames:
        for frame in frames:
            out.update(frame.renders)
            if frame.image is None:  # the tail: renders wanted past the end
                continue
            cols.measure(frame.index, frame.image)
            if net is not None:
                net.process_frame(frame.index, TransNetScorer.shrink(i420_to_bgr(frame.image)))
            times.append(frame.time_s)
            if frame.key:
                keys.append(frame.time_s)
    n = len(times)
    scores = cols.scores(
        np.asarray(times, dtype=np.float64),
        np.asarray(keys, dtype=np.float64),
        width,
        Scan("full", reason, n, n),
    )
    scores.transnet = net.post_process() if net is not None else None
    return Analysis(scores, out)


@dataclass
class _Small:
    """One frame of the fast pass, as handed from the decoding thread."""

    index: int
    time_s: float
    key: bool
    image: np.ndarray | None  # planar I420 at analysis size; None for the tail item
    renders: dict[int, np.ndarray]


def _decode(
    video: VideoStream, width: int, wanted: dict[int, int | None], tap: Callable[[DecodedFrame], None] | None
) -> Iterator[_Small]:
    """The fast pass, rendering wanted frames while they are current (runs in the decoding thread)."""
    yield from _smalls(video.frames(width, fmt="yuv420p", fast=True), wanted, tap)


def _smalls(
    frames: Iterable[DecodedFrame],
    wanted: dict[int, int | None],
    tap: Callable[[DecodedFrame], None] | None,
    owns: int | None = None,
) -> Iterator[_Small]:
    """``frames`` handed over small, wanted ones rendered while current; ``tap`` is shown those up
    to ``owns`` (all when None). Renders wanted past the end come from the last frame."""
    last: DecodedFrame | None = None
    for frame in frames:
        if tap is not None and (owns is None or frame.index <= owns):
            tap(frame)
        renders = {frame.index: frame.render(wanted.pop(frame.index))} if frame.index in wanted else {}
        yield _Small(frame.index, frame.time_s, frame.key, frame.image, renders)
        last = frame
    if last is not None and wanted:  # past the end: the last frame stands in
        yield _Small(-1, 0.0, False, None, {index: last.render(w) for index, w in wanted.items()})


def _analyze_stretches(
    path: Path,
    index: PacketIndex,
    parts: list[tuple[int, int]],
    renders: dict[int, int | None],
    width: int,
    reason: str,
    tap: Callable[[DecodedFrame], None] | None,
) -> Analysis | None:
    """:func:`analyze` with one decoder per stretch; None when a frame of the index did not
    decode (the sequential pass then numbers the frames as they come)."""
    n = index.frame_count
    cols = [ScoreColumns(n) for _ in parts]
    out: dict[int, np.ndarray] = {}
    decoded = 0
    threads = threads_each(usable_cores(), len(parts))
    with ExitStack() as stack:
        videos = [stack.enter_context(open_video(path, threads=threads)) for _ in parts]
        owners = [*(first - 1 for first, _ in parts[1:]), n - 1]  # the last frame each shows the tap
        sources = [
            _decode_stretch(v, index, (first, last, owns), width, wanted, tap)
            for v, (first, last), owns, wanted in zip(
                videos, parts, owners, owned_by(renders, parts, n), strict=True
            )
        ]
        with closing(prefetched_all(sources)) as frames:
            for k, frame in frames:
                out.update(frame.renders)
                if frame.image is not None:
                    cols[k].measure(frame.index, frame.image)
                    decoded += 1
    merged = ScoreColumns.merged(cols)
    missing = int(np.isnan(merged.sharpness[:n]).sum())
    if missing:
        log.warning("shots.stretches_incomplete", frames=n, missing=missing)
        return None
    times = index.times_s()
    scan = Scan("full", reason + f"; {len(parts)} stretches decoded side by side", decoded, n)
    return Analysis(merged.scores(times, times[index.key], width, scan), out)


def _decode_stretch(
    video: VideoStream,
    index: PacketIndex,
    stretch: tuple[int, int, int],
    width: int,
    wanted: dict[int, int | None],
    tap: Callable[[DecodedFrame], None] | None,
) -> Iterator[_Small]:
    """Frames ``first``..``last`` decoded from the keyframe ``first`` (runs in a decoding thread);
    ``tap`` is shown those up to ``owns`` (the next stretch shows it the rest)."""
    first, last, owns = stretch
    start = int(index.pts[first]) if first > 0 else None
    frames = video.selected_frames(index.index_of(), _every, width, fast=True, start_pts=start)
    with closing(frames):
        yield from _smalls(itertools.takewhile(lambda f: f.index <= last, frames), wanted, tap, owns)


def _every(index: int) -> bool:
    return True
