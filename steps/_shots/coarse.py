"""The coarse-to-fine shot scan: measure frames only where a cut can be, and place the same cuts.

Decoding is what a shot pass pays for, so the only way to go much faster than one full pass is
to decode fewer frames. The cut rules (:mod:`.rules`) flag a frame from the scores of its
neighbours only, and never one whose content score is low; so a scan that measures every
stretch where the picture can change abruptly, with the rule's window around it, flags the same
frames as a full pass, and the gating then places the same cuts.

1. **Plan** (:func:`plan_scan`, from the packet index, no decoding): every intra-coded picture
   after the first (x264 puts an I-frame at each scene cut it detects) and every packet-size
   spike (a picture coded mostly from scratch) is a candidate; the stretch around it will be
   decoded and measured. Pictures that nothing references (B-frames of H.264/HEVC) are skipped
   elsewhere: leaving them out changes no pixel of the others. The full pass runs instead when
   the stream gives no usable signal (no timestamps, every frame intra-coded), when the detector
   needs every frame, or when the candidates are so dense that the scan would cost nearly as much.
2. **Scan** (:func:`coarse_analyze`): the decoding thread decodes the reference pictures and the
   planned stretches, and checks every decoded frame against the one before it on a 64-pixel
   thumbnail (cheap). A change there that stands out from its neighbours, outside the plan, is a
   candidate the packets did not show: the frames around it are measured too (they are still in
   hand when nothing was skipped between them), or re-decoded afterwards from their keyframe.
   While the picture moves fast, unreferenced pictures are decoded too (skipping them would hide
   a cut in the motion over the frames skipped); where changes that stand out are dense, the scan
   measures every frame from there on.

The pixels measured are the pixels of the full pass (same decoder settings, decoding from the
stream start or from a keyframe), so every score is bit-equal; the rule runs once over all of
them. Stretches of the video that start at keyframes are scanned side by side, a decoder each
(:mod:`.stretches`); a stretch runs on past its end while changes it found reach further. On
P-only streams (no B-frames) every picture must be decoded anyway and the full pass runs.
Calibration (generated high-motion cuts and transitions, tests/steps/conftest.py, bench/shots.py):
a cut's thumbnail change is at least 1.55 times its neighbours' and 30 grey levels, and a content
score of 15 (the lowest any rule flags) comes with a thumbnail change of at least 6 (27: 11).
Why not faster: a cut at a keyframe (where x264 puts them) is decided by the frame before it,
the last of the previous GOP, which only decoding that GOP's reference pictures gives; so the
reference pictures are the floor of any scan that places the same cuts (bench/shots.py).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._logging import get_logger
from .._media.frames import ANALYSIS_WIDTH, DecodedFrame, VideoStream, open_video, usable_cores
from .._media.packets import PacketIndex, read_packet_index
from .detect import Analysis, Scan, ScoreColumns
from .prefetch import prefetched_all
from .rules import CutRule
from .stretches import owned_by, stretches, threads_each, worth_splitting

__all__ = ["ScanPlan", "coarse_analyze", "plan_for", "plan_scan"]

SPARE = 1  # frames measured beyond what the rule's reach needs, on each side
SPIKE = 2.0  # a packet this many times the size of its neighbours' median (same picture kind)
SIZE_SPAN = 8  # neighbours on each side for that median
SAMPLE_GAP = 6  # sharpness (keyframe choice) is measured on at least one frame in this many
TINY_WIDTH = 64
TINY_MIN = 4.0  # mean thumbnail change (8-bit levels) below which no rule can flag a frame
TINY_RATIO = 1.3  # ... and how far above its neighbours' (per frame, times its span) it must stand out
TINY_PER_SCORE = 0.3  # thumbnail change per frame that a content score can come with, at least
SKIP_MOTION = 4.0  # skip unreferenced pictures only while the thumbnails change less per frame
_HOLD = 3  # decoded frames held back beyond what a promotion reaches before
_AHEAD = 16  # frames ahead whose packets are decoded once the motion is too high to skip
_DENSE = 40  # promoted frames among the last 100 decoded: measure everything from there on
# Relative costs per frame (bench/shots.py): decoding, measuring at analysis size, a thumbnail.
_COST_DECODE, _COST_MEASURE, _COST_THUMB = 1.0, 0.4, 0.05
_WORTH = 0.75  # run the scan only when its estimate is under this share of a full pass
_ALL_REFS = 0.9  # share of reference pictures above which nothing worth skipping is left
log = get_logger(__name__)


@dataclass(frozen=True)
class ScanPlan:
    """What to decode and measure, or why the full pass runs instead."""

    path: str  # "coarse" or "full"
    reason: str
    wanted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # measure
    decode: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # decode
    regions: tuple[tuple[int, int], ...] = ()  # planned stretches to measure, inclusive
    before: int = 0  # frames to measure before a possible change of picture
    after: int = 0  # ... and after it
    busy: float = math.inf  # a thumbnail change per frame that is measured whether it stands out or not


def _margins(rule: CutRule) -> tuple[int, int]:
    """Frames to measure around a change of picture so that every flag it can cause is decided."""
    before, after = rule.reach
    return before + SPARE, after + SPARE


def _side_medians(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median size of the ``SIZE_SPAN`` values before and after each one (edges repeated)."""
    padded = np.pad(sizes.astype(np.float64), SIZE_SPAN, mode="edge")
    windows = sliding_window_view(padded, SIZE_SPAN)
    n = len(sizes)
    return np.median(windows[:n], axis=1), np.median(windows[SIZE_SPAN + 1 : SIZE_SPAN + 1 + n], axis=1)


def _spikes(index: PacketIndex) -> list[tuple[int, int]]:
    """Possible cuts shown by packet sizes, as ``(first, last)`` frame ranges.

    Sizes are compared within one kind of picture (P, referenced B, other B, or referenced or
    not when the codec does not say), which encoders size very differently. A cut shown by a
    referenced picture may lie anywhere after the previous referenced one: the pictures in
    between may be predicted from it.
    """
    out: list[tuple[int, int]] = []
    refs = np.flatnonzero(index.ref)
    classes = index.kind.astype(np.int64) * 2 + index.ref
    for cls in np.unique(classes[~index.intra]):
        frames = np.flatnonzero((classes == cls) & ~index.intra)
        if len(frames) < 3:
            continue
        sizes = index.size[frames]
        before, after = _side_medians(sizes)
        for i in frames[sizes >= SPIKE * np.minimum(before, after)]:
            j = int(np.searchsorted(refs, i))  # refs[j - 1] is the last reference before i
            first = int(refs[j - 1]) + 1 if index.ref[i] and j > 0 else int(i)
            out.append((first, int(i)))
    return out


def plan_scan(
    index: PacketIndex | None, rule: CutRule, renders: Mapping[int, int | None], *, worth: float = _WORTH
) -> ScanPlan:
    """Plan a coarse scan from the packet index, or say why a full pass must run.

    ``worth``: the share of a full pass's estimated cost under which the scan runs.
    """
    if not rule.sparse_ok:
        return ScanPlan("full", f"{type(rule).__name__} with these settings needs every frame measured")
    if index is None:
        return ScanPlan("full", "the timestamps do not number the frames")
    n = index.frame_count
    if index.intra.all():
        return ScanPlan("full", "every frame is intra-coded: the stream gives no signal")
    if not index.refs_known:
        return ScanPlan("full", "the codec does not say which pictures are references")
    if index.ref.mean() > _ALL_REFS:
        return ScanPlan("full", "every picture is a reference: no frame can be left undecoded")
    intra = [(int(k), int(k)) for k in np.flatnonzero(index.intra) if k > 0]
    before, after = _margins(rule)
    changes = sorted(intra + _spikes(index))
    regions = tuple((max(0, a - before), min(n - 1, b + after)) for a, b in changes)
    wanted = np.zeros(n, dtype=bool)
    for first, last in regions:
        wanted[first : last + 1] = True
    decode = wanted | index.ref
    decode[: before + after] = True  # until the thumbnails show how fast the picture moves
    decode[[i for i in renders if 0 <= i < n]] = True
    coarse = decode.sum() * (_COST_DECODE + _COST_THUMB) + (wanted.sum() + n / SAMPLE_GAP) * _COST_MEASURE
    full = n * (_COST_DECODE + _COST_MEASURE)
    what = f"{len(intra)} intra pictures, {len(changes) - len(intra)} size spikes"
    if coarse >= worth * full:
        return ScanPlan("full", f"too little to skip ({what}; {decode.sum()} of {n} frames to decode)")
    busy = math.inf if rule.crossing is None else TINY_PER_SCORE * rule.crossing
    return ScanPlan("coarse", what, wanted, decode, regions, before, after, busy)


def plan_for(
    video: VideoStream, rule: CutRule, renders: Mapping[int, int | None]
) -> tuple[ScanPlan, PacketIndex | None]:
    """:func:`plan_scan` for an open video, and its packet index where read: the plan needs it,
    or a full pass of a long video decodes stretches of it side by side with it."""
    long = worth_splitting(video.duration * float(video.frame_rate), math.prod(video.frame_size))
    if not rule.sparse_ok:
        return plan_scan(None, rule, renders), read_packet_index(video.path) if long else None
    if not video.reorders:
        plan = ScanPlan("full", "no B-frames: every picture is a reference, decoded anyway")
        return plan, read_packet_index(video.path) if long else None
    index = read_packet_index(video.path)
    return plan_scan(index, rule, renders), index


@dataclass
class _Item:
    """One frame handed from the decoding thread: measured when ``image`` is set."""

    index: int
    image: np.ndarray | None
    renders: dict[int, np.ndarray]


@dataclass
class _Held:
    """A decoded frame held back until it is known whether it must be measured."""

    frame: DecodedFrame
    change: float | None  # thumbnail change against the previous decoded frame
    previous: int  # index of the previous decoded frame (-1 for the first)

    @property
    def rate(self) -> float | None:
        """The change per frame shown since the previous decoded frame."""
        return None if self.change is None else self.change / (self.frame.index - self.previous)


class _Producer:
    """The decoding side of the scan (runs in the decoding thread)."""

    def __init__(
        self,
        index: PacketIndex,
        plan: ScanPlan,
        renders: Mapping[int, int | None],
        stretch: tuple[int, int, int],
        tap: Callable[[DecodedFrame], None] | None = None,
    ):
        self.tap = tap
        self.index = index
        # the stretch it decodes (promotions extend it), and the last frame it shows the tap
        self.first, self.until, self.owns = stretch
        self.wanted = plan.wanted.copy()
        self.decode = plan.decode.copy()
        self.before, self.after, self.busy = plan.before, plan.after, plan.busy
        self.renders = dict(renders)
        self.promoted: list[tuple[int, int]] = []
        self.decoded = 0
        self.dense_from: int | None = None
        self._recent: deque[int] = deque(maxlen=100)  # promoted flags of recent decoded frames
        self._rates: deque[float] = deque(maxlen=8)  # recent changes per frame
        self._next_sample = 0

    def items(self, video: VideoStream, width: int) -> Iterator[_Item]:
        thumb = video.thumbnailer(TINY_WIDTH)
        held: deque[_Held] = deque()
        last_thumb: np.ndarray | None = None
        previous = -1
        last: DecodedFrame | None = None
        start = int(self.index.pts[self.first]) if self.first > 0 else None
        frames = video.selected_frames(
            self.index.index_of(), self.decode.__getitem__, width, fast=True, start_pts=start
        )
        for frame in frames:
            # the end of the stretch, once the frames before it were tested (``_test`` runs on
            # the frame two decoded frames back)
            if frame.index > self.until and sum(h.frame.index > self.until for h in held) >= 2:
                frames.close()
                break
            self.decoded += 1
            if self.tap is not None and frame.index <= self.owns:
                self.tap(frame)
            change = None
            if self.dense_from is None:
                small = frame.thumbnail(thumb).astype(np.int16)
                if last_thumb is not None:
                    change = float(np.abs(small - last_thumb).mean())
                last_thumb = small
            held.append(_Held(frame, change, previous))
            self._pace(held[-1])
            previous = frame.index
            if len(held) >= 5:
                self._test(held, len(held) - 3)
            while len(held) > self.before + _HOLD:
                yield self._item(held.popleft())
            last = frame
        for k in range(max(0, len(held) - 2), len(held)):
            self._test(held, k)
        while held:
            yield self._item(held.popleft())
        if last is not None and self.renders:  # past the end: the last frame stands in
            yield _Item(-1, None, {i: last.render(w) for i, w in self.renders.items()})

    def _pace(self, held: _Held) -> None:
        """Decode every picture ahead while the picture moves fast: skipping some would hide a
        cut in the motion over the frames skipped."""
        rate = held.rate
        if rate is None:
            return
        self._rates.append(rate)
        if float(np.median(self._rates)) > SKIP_MOTION:
            index = held.frame.index
            self.decode[index + 1 : index + 1 + _AHEAD] = True

    def _test(self, held: deque[_Held], k: int) -> None:
        """Promote the frames around ``held[k]`` when its thumbnail change stands out: above
        ``TINY_MIN`` and ``TINY_RATIO`` times what its neighbours' motion gives over its span."""
        item = held[k]
        if item.change is None or item.change < TINY_MIN or self.dense_from is not None:
            self._recent.append(0)
            return
        around = [held[j].rate for j in (k - 2, k - 1, k + 1, k + 2) if 0 <= j < len(held)]
        rates = [r for r in around if r is not None]
        span = item.frame.index - item.previous
        busy = (item.rate or 0.0) >= self.busy  # a content score may reach the rule's threshold here
        if not busy and rates and item.change < TINY_RATIO * float(np.median(rates)) * span:
            self._recent.append(0)
            return
        index = item.frame.index
        first = max(0, item.previous + 1 - self.before)
        last = min(self.index.frame_count - 1, index + self.after)
        if not self.wanted[first : last + 1].all():
            self.wanted[first : last + 1] = True
            self.decode[first : last + 1] = True  # helps when their packets are still ahead
            self.promoted.append((first, last))
            self.until = max(self.until, last)
        self._recent.append(1)
        if sum(self._recent) >= _DENSE:
            self.dense_from = index
            self.wanted[first:] = True
            self.decode[first:] = True

    def _item(self, held: _Held) -> _Item:
        frame = held.frame
        renders = {}
        if frame.index in self.renders:
            renders[frame.index] = frame.render(self.renders.pop(frame.index))
        measure = bool(self.wanted[frame.index]) or frame.index >= self._next_sample
        if measure:
            self._next_sample = frame.index + SAMPLE_GAP
        return _Item(frame.index, frame.image if measure else None, renders)


def _gaps(content: np.ndarray, regions: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The regions whose frames (after the first) were not all measured, merged."""
    n = len(content)
    out: list[tuple[int, int]] = []
    for first, last in sorted(regions):
        lo, hi = max(1, first + 1), min(n - 1, last)
        if lo <= hi and np.isnan(content[lo : hi + 1]).any():
            if out and first <= out[-1][1] + 1:
                out[-1] = (out[-1][0], max(out[-1][1], last))
            else:
                out.append((first, last))
    return out


def _repair(path: Path, index: PacketIndex, cols: ScoreColumns, first: int, last: int, width: int) -> int:
    """Decode frames ``first``..``last`` again from the keyframe before them and measure them."""
    key = index.keyframe_at_or_before(first)
    wanted = np.zeros(index.frame_count, dtype=bool)
    wanted[first : last + 1] = True
    decode = wanted | index.ref
    decoded = 0
    cols.restart()
    with open_video(path) as video:
        frames = video.selected_frames(
            index.index_of(), decode.__getitem__, width, fast=True, start_pts=int(index.pts[key])
        )
        with closing(frames):
            for frame in frames:
                decoded += 1
                if frame.index > last:
                    break
                if frame.index >= first:
                    cols.measure(frame.index, frame.image)
    return decoded


def coarse_analyze(
    video: VideoStream,
    index: PacketIndex,
    plan: ScanPlan,
    *,
    renders: Mapping[int, int | None] | None = None,
    width: int = ANALYSIS_WIDTH,
    detector: str = "",
    tap: Callable[[DecodedFrame], None] | None = None,
    decoders: int | None = None,
) -> Analysis:
    """Run the scan ``plan`` describes over ``video`` (see the module docstring); ``detector``
    names the detector the plan was made for (kept with the scores); ``tap`` is shown every frame
    the scan decodes (the reference pictures at least), while it is current, in presentation
    order within each stretch. Stretches of the video are decoded side by side, by ``decoders``
    decoders (default: one per usable core, for a long enough video: :func:`.stretches.stretches`)."""
    n = index.frame_count
    parts = stretches(index, plan.decode, decoders, frame_pixels=math.prod(video.frame_size))
    owners = [*(first - 1 for first, _ in parts[1:]), n - 1]  # the last frame each stretch shows the tap
    producers = [
        _Producer(index, plan, wanted, (first, last, owns), tap)
        for (first, last), owns, wanted in zip(parts, owners, owned_by(renders or {}, parts, n), strict=True)
    ]
    cols = [ScoreColumns(n) for _ in parts]
    out: dict[int, np.ndarray] = {}
    with ExitStack() as stack:
        videos = [video]
        if len(parts) > 1:  # one decoder per stretch
            threads = threads_each(usable_cores(), len(parts))
            videos = [stack.enter_context(open_video(video.path, threads=threads)) for _ in parts]
        sources = [p.items(v, width) for p, v in zip(producers, videos, strict=True)]
        with closing(prefetched_all(sources)) as items:
            for k, item in items:
                out.update(item.renders)
                if item.image is not None:
                    cols[k].measure(item.index, item.image)
    merged = ScoreColumns.merged(cols)
    promoted = [r for p in producers for r in p.promoted]
    gaps = _gaps(merged.content, [*plan.regions, *promoted])
    decoded = sum(p.decoded for p in producers)
    for first, last in gaps:
        decoded += _repair(video.path, index, merged, first, last, width)
    reason = plan.reason + f"; {len(promoted)} changes found by thumbnails, {len(gaps)} re-decoded"
    dense = [p.dense_from for p in producers if p.dense_from is not None]
    if dense:
        reason += f"; every frame measured from frame {dense[0]}"
    if len(parts) > 1:
        reason += f"; {len(parts)} stretches decoded side by side"
    log.info(
        "shots.coarse_scan",
        frames=n,
        decoded=decoded,
        promoted=len(promoted),
        repaired=len(gaps),
        stretches=len(parts),
    )
    times = index.times_s()
    scan = Scan("coarse", reason, decoded, n, detector)
    return Analysis(merged.scores(times, times[index.key], width, scan), out)
