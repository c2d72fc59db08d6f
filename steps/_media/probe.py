"""Container facts through PyAV, and the one place where PyAV exceptions become typed errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av

from .._sniff import HEAD_BYTES, container_of
from ..errors import CorruptVideo, EmptyFile, NotAVideo, NoVideoStream, SourceNotFound

if TYPE_CHECKING:
    from av.container import InputContainer

__all__ = [
    "MediaInfo",
    "duration_of",
    "frame_rate",
    "map_av_errors",
    "open_input",
    "probe",
    "select_video_stream",
]

# Formats PyAV opens that hold one still image, not a video.
_IMAGE_FORMATS = ("image2", "_pipe", "gif", "webp")


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` learns about a file."""

    duration_s: float
    width: int
    height: int
    fps: float
    codec: str
    rotation: int
    has_audio: bool
    audio_duration_s: float | None
    container: str


def _read_head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(HEAD_BYTES)


@contextlib.contextmanager
def map_av_errors(path: Path) -> Iterator[None]:
    """Translate every PyAV/FFmpeg exception raised inside the block into a typed error.

    Damaged files of a known container become :class:`CorruptVideo`; bytes that do not look like
    any media container become :class:`NotAVideo`.
    """
    try:
        yield
    except av.error.FileNotFoundError as exc:
        raise SourceNotFound("the video file is missing") from exc
    except av.error.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        try:
            known = container_of(_read_head(path)) is not None
        except OSError:
            known = True
        if not known:
            raise NotAVideo("the file is not a video (its content is not a known media format)") from exc
        raise CorruptVideo(
            f"the video cannot be decoded: {reason} (the file is damaged or was cut off)"
        ) from exc


def open_input(path: Path) -> InputContainer:
    """Open ``path`` for reading, refusing missing and zero-byte files with typed errors."""
    if not path.is_file():
        raise SourceNotFound("the video file is missing")
    if path.stat().st_size == 0:
        raise EmptyFile("the file is empty (0 bytes)")
    with map_av_errors(path):
        return av.open(str(path), mode="r", metadata_errors="ignore")


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _is_cover_art(stream: av.stream.Stream) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def select_video_stream(container: InputContainer) -> av.video.stream.VideoStream:
    """The first real video stream (cover art skipped); typed errors when there is none."""
    videos = [s for s in container.streams.video if not _is_cover_art(s)]
    if not videos:
        if container.streams.audio:
            raise NoVideoStream("the file holds audio only: there is no picture to analyse")
        raise NotAVideo(f"the file holds neither video nor audio ({container.format.name})")
    return videos[0]


def frame_rate(video: av.video.stream.VideoStream) -> Fraction | None:
    """The stream's average frame rate, or the best guess FFmpeg has; None when it has none."""
    rate = video.average_rate or video.guessed_rate or video.base_rate
    return Fraction(rate) if rate else None


def duration_of(container: InputContainer, video: av.video.stream.VideoStream) -> float:
    """Duration in seconds: the container's, else the video stream's (0.0 when neither says)."""
    if container.duration:
        return float(container.duration / av.time_base)
    return _seconds(video.duration, video.time_base) or 0.0


def probe(path: Path) -> MediaInfo:
    """Probe ``path``: duration, size, frame rate, codec, display rotation and audio presence.

    Decodes the first video frame, which checks that the video stream is decodable and yields the
    display matrix (rotation).

    Raises:
        EmptyFile, SourceNotFound, NotAVideo, CorruptVideo, NoVideoStream.
    """
    with open_input(path) as container, map_av_errors(path):
        fmt = container.format.name
        video = select_video_stream(container)
        audios = list(container.streams.audio)
        if any(key in fmt for key in _IMAGE_FORMATS):
            raise NotAVideo(f"the file is a still image ({fmt}), not a video")
        rotation = _first_frame_rotation(container, video, path)
        duration = duration_of(container, video)
        rate = frame_rate(video)
        audio_duration = _seconds(audios[0].duration, audios[0].time_base) if audios else None
        return MediaInfo(
            duration_s=round(duration, 3),
            width=int(video.codec_context.width),
            height=int(video.codec_context.height),
            fps=round(float(rate), 3) if rate else 0.0,
            codec=video.codec_context.name,
            rotation=rotation,
            has_audio=bool(audios),
            audio_duration_s=audio_duration,
            container=fmt,
        )


def _first_frame_rotation(container: InputContainer, video: av.video.stream.VideoStream, path: Path) -> int:
    """Decode the first frame of ``video``; its display matrix gives the rotation (counter-clockwise)."""
    for frame in container.decode(video):
        return int(frame.rotation) % 360
    raise CorruptVideo("the file has a video stream but not a single frame decodes")
