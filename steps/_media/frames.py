"""The one video-decoding stream: a single pass at analysis resolution, and exact-frame grabs.

Decoding is kept apart from what the frames are used for. :func:`open_video` opens a file and
:meth:`VideoStream.frames` decodes it once, letting libswscale shrink every frame straight from
the decoder's YUV to a small BGR image (no full-resolution RGB conversion). While a frame is
current, :meth:`DecodedFrame.render` can convert it again at any size, so the same pass also
yields thumbnails and full-resolution screenshots. :func:`grab_frames` fetches full-resolution
frames at chosen times afterwards, seeking only when decoding forward would cost more.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import CorruptVideo
from .probe import duration_of, frame_rate, map_av_errors, open_input, select_video_stream

__all__ = ["ANALYSIS_WIDTH", "DecodedFrame", "VideoStream", "grab_frames", "open_video", "usable_cores"]

ANALYSIS_WIDTH = 256  # the width PySceneDetect's auto-downscale aims at
_INTERPOLATION = "FAST_BILINEAR"
# Decoders whose in-loop deblocking filter a fast analysis pass may skip (``skip_loop_filter``):
# about 13 % less decoding CPU on H.264 with deblocking on; pictures drift by about a grey level
# within a GOP (41 dB PSNR on 426 px tiles), which moves no cut and no keyframe pick (bench/shots.py).
_SKIP_LOOP_FILTER_CODECS = frozenset({"h264", "hevc"})


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate ``image`` by the display matrix's counter-clockwise ``rotation`` (degrees)."""
    turns = (rotation % 360) // 90
    return np.ascontiguousarray(np.rot90(image, k=turns)) if turns else image


class _Shrink:
    """One swscale context that shrinks frames to a fixed size and pixel format."""

    def __init__(self, width: int, height: int, fmt: str) -> None:
        self.reformatter = VideoReformatter()
        self.width, self.height, self.fmt = width, height, fmt

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        small = self.reformatter.reformat(
            frame, width=self.width, height=self.height, format=self.fmt, interpolation=_INTERPOLATION
        )
        return small.to_ndarray()


@dataclass
class DecodedFrame:
    """One decoded frame of an analysis pass; :meth:`render` works only while it is current."""

    index: int  # 0-based position in presentation order
    time_s: float  # presentation time relative to the stream start
    key: bool  # a keyframe in the bitstream (a cheap seek target)
    _frame: av.VideoFrame = field(repr=False)
    _shrink: _Shrink = field(repr=False)
    _reformatter: VideoReformatter = field(repr=False)
    _image: np.ndarray | None = field(default=None, repr=False)

    @property
    def image(self) -> np.ndarray:
        """Analysis-size image in the pass's pixel format (BGR, gray, planar I420), made on first use."""
        if self._image is None:
            self._image = self._shrink(self._frame)
        return self._image

    def thumbnail(self, shrink: _Shrink) -> np.ndarray:
        """This frame shrunk by another (smaller) ``shrink``, e.g. :meth:`VideoStream.thumbnailer`."""
        return shrink(self._frame)

    def render(self, width: int | None = None, fmt: str = "rgb24") -> np.ndarray:
        """This frame upright, ``width`` pixels wide (full resolution when None)."""
        frame = self._frame
        if width is None or width >= frame.width:
            out = self._reformatter.reformat(frame, format=fmt)
        else:
            height = _even(frame.height * width / frame.width)
            out = self._reformatter.reformat(
                frame, width=_even(width), height=height, format=fmt, interpolation="AREA"
            )
        return _upright(out.to_ndarray(), int(frame.rotation))


class VideoStream:
    """An opened video file: its facts, and one decoding pass over its frames."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        self.path = path
        self._container = open_input(path)
        try:
            with map_av_errors(path):
                self._stream = select_video_stream(self._container)
                self._stream.thread_type = "AUTO"
                # One decoding thread per usable core: FFmpeg's automatic count (cores + 1) is
                # about 15 % slower on 2 cores (bench/shots.py).
                self._stream.codec_context.thread_count = threads or usable_cores()
        except BaseException:
            self._container.close()
            raise

    @property
    def frame_rate(self) -> Fraction:
        """Average frame rate (frames per second); 25 when the container does not say."""
        return frame_rate(self._stream) or Fraction(25)

    @property
    def duration(self) -> float:
        """Duration in seconds from the container (0.0 when unknown)."""
        return duration_of(self._container, self._stream)

    @property
    def reorders(self) -> bool:
        """Whether frames may be shown in another order than decoded (B-frames)."""
        return bool(self._stream.codec_context.has_b_frames)

    @property
    def frame_size(self) -> tuple[int, int]:
        """Coded ``(width, height)`` in pixels (before display rotation)."""
        return int(self._stream.codec_context.width), int(self._stream.codec_context.height)

    def analysis_size(self, width: int = ANALYSIS_WIDTH) -> tuple[int, int]:
        """The ``(width, height)`` frames are shrunk to for analysis: the coded size divided by the
        whole factor that brings the width nearest above ``width`` (PySceneDetect's auto-downscale)."""
        w, h = self.frame_size
        factor = max(1, w // width) if w else 1
        return _even(w / factor), _even(h / factor)

    def thumbnailer(self, width: int) -> _Shrink:
        """A shrink to ``width`` pixels wide, planar I420 (for :meth:`DecodedFrame.thumbnail`)."""
        w, h = self.frame_size
        return _Shrink(_even(width), _even(h * width / w) if w else 2, "yuv420p")

    def _prepare(self, width: int, fmt: str, fast: bool) -> _Shrink:
        stream = self._stream
        if fast and stream.codec_context.name in _SKIP_LOOP_FILTER_CODECS:
            stream.codec_context.options = {**stream.codec_context.options, "skip_loop_filter": "all"}
        return _Shrink(*self.analysis_size(width), fmt)

    def _time(self, pts: int | None) -> float:
        start = self._stream.start_time or 0
        return float(((pts if pts is not None else start) - start) * (self._stream.time_base or Fraction(1)))

    def frames(
        self, width: int = ANALYSIS_WIDTH, fmt: str = "bgr24", *, fast: bool = False
    ) -> Iterator[DecodedFrame]:
        """Decode every frame once, shrunk to ``width`` pixels wide, in presentation order.

        ``fast`` skips H.264/HEVC's deblocking filter: good enough to measure change between
        frames, not for pictures shown at full size (grab those with :func:`grab_frames`). It must
        be chosen before the stream's first decode.

        Raises:
            CorruptVideo: the stream cannot be decoded, or not a single frame decodes.
        """
        shrink = self._prepare(width, fmt, fast)
        render = VideoReformatter()
        index = 0
        with map_av_errors(self.path):
            for frame in self._container.decode(self._stream):
                frame_out = DecodedFrame(
                    index, self._time(frame.pts), bool(frame.key_frame), frame, shrink, render
                )
                frame_out._image = shrink(frame)
                yield frame_out
                index += 1
        if index == 0:
            raise CorruptVideo("the file has a video stream but not a single frame decodes")

    def selected_frames(
        self,
        index_of: Mapping[int, int],
        decode: Callable[[int], bool],
        width: int = ANALYSIS_WIDTH,
        fmt: str = "yuv420p",
        *,
        fast: bool = False,
        start_pts: int | None = None,
    ) -> Generator[DecodedFrame, None, None]:
        """Decode only the frames for which ``decode(index)`` is true, in presentation order.

        ``index_of`` maps presentation timestamps to frame indices (see
        :func:`.packets.read_packet_index`); ``decode`` must be true for every frame that a frame
        it wants references. Images are made only when asked for (:attr:`DecodedFrame.image`),
        with the same shrink :meth:`frames` uses, so a frame decodes to the same pixels either
        way. ``start_pts`` seeks first to the keyframe at or before that timestamp; frames shown
        before the keyframe (open-GOP leading pictures) are dropped.

        Raises:
            CorruptVideo: the stream cannot be decoded, or a frame's timestamp is not in ``index_of``.
        """
        shrink = self._prepare(width, fmt, fast)
        render = VideoReformatter()
        stream = self._stream
        codec = stream.codec_context
        with map_av_errors(self.path):
            if start_pts is not None:
                self._container.seek(start_pts, stream=stream, backward=True, any_frame=False)
            for packet in self._container.demux(stream):
                if packet.size and packet.pts is not None:
                    index = index_of.get(packet.pts)
                    if index is not None and not decode(index):  # unknown ones: never shown
                        continue
                for frame in codec.decode(packet if packet.size else None):
                    pts = frame.pts
                    index = index_of.get(pts) if pts is not None else None
                    if pts is None or index is None:
                        raise CorruptVideo("a decoded frame has a timestamp the stream index does not know")
                    if start_pts is not None and pts < start_pts:
                        continue
                    yield DecodedFrame(
                        index, self._time(frame.pts), bool(frame.key_frame), frame, shrink, render
                    )

    def close(self) -> None:
        """Release the file and the decoder."""
        self._container.close()

    def __enter__(self) -> VideoStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_video(path: Path, *, threads: int | None = None) -> VideoStream:
    """Open ``path`` for decoding (typed errors for missing, empty, non-video or damaged files).

    ``threads``: decoding threads (default: one per usable core; fewer where several decoders
    share the cores, :mod:`steps._shots.stretches`).
    """
    return VideoStream(path, threads)


def grab_frames(
    path: Path, times_s: Sequence[float], *, keyframes_s: Sequence[float] = (), fmt: str = "rgb24"
) -> list[np.ndarray]:
    """Full-resolution upright frames shown at each of ``times_s`` (the last frame at or before it).

    Times are visited in order; each costs at most one seek (to the keyframe before it), and none
    when ``keyframes_s`` (keyframe times from an earlier pass) shows that decoding forward from the
    current position is cheaper. Times past the end give the last frame.
    """
    out: dict[int, np.ndarray] = {}
    with open_video(path) as video, map_av_errors(path):
        cursor = _Cursor(video, sorted(keyframes_s))
        for i in sorted(range(len(times_s)), key=lambda i: times_s[i]):
            frame = cursor.frame_at(max(0.0, float(times_s[i])))
            image = cursor.reformatter.reformat(frame, format=fmt).to_ndarray()
            out[i] = _upright(image, int(frame.rotation))
    return [out[i] for i in range(len(times_s))]


class _Cursor:
    """Decodes forward through a stream, seeking back or ahead only when that is cheaper."""

    _NO_INDEX_LOOKAHEAD_S = 1.0  # without a keyframe index, decode forward at most this far

    def __init__(self, video: VideoStream, keyframes_s: list[float]) -> None:
        self.video = video
        self.keys = keyframes_s
        self.reformatter = VideoReformatter()
        stream = video._stream
        self.base = stream.time_base or Fraction(1, 1)
        self.start = stream.start_time or 0
        self.half = 0.5 / float(video.frame_rate)
        self.frames: Iterator[av.VideoFrame] | None = None
        self.held: av.VideoFrame | None = None  # last frame at or before the previous target
        self.ahead: av.VideoFrame | None = None  # first frame after it, read but not used
        self.position = -1.0

    def _time(self, frame: av.VideoFrame) -> float:
        pts = frame.pts if frame.pts is not None else self.start
        return float((pts - self.start) * self.base)

    def _must_seek(self, target: float) -> bool:
        if self.frames is None or target + self.half < self.position:
            return True
        if not self.keys:
            return target - self.position > self._NO_INDEX_LOOKAHEAD_S
        k = bisect.bisect_right(self.keys, target + self.half) - 1
        return k >= 0 and self.position < self.keys[k] - self.half

    def frame_at(self, target: float) -> av.VideoFrame:
        if self._must_seek(target):
            stream = self.video._stream
            self.video._container.seek(
                int(target / self.base) + self.start, stream=stream, backward=True, any_frame=False
            )
            self.frames = self.video._container.decode(stream)
            self.held = self.ahead = None
        assert self.frames is not None
        while True:
            frame = self.ahead if self.ahead is not None else next(self.frames, None)
            self.ahead = None
            if frame is None:
                break
            t = self._time(frame)
            if t > target + self.half and self.held is not None:
                self.ahead = frame
                break
            self.held, self.position = frame, t
        if self.held is None:
            raise CorruptVideo(f"the video has no frame that decodes at {target:.3f} s")
        return self.held
