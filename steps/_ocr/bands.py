"""The subtitle band, sampled about twice a second by whichever pass decodes the video.

Decoding a video costs more than reading the subtitles on it, and the Shots step decodes every
video anyway. So the Shots pass hands each decoded frame to a :class:`BandSampler`, which keeps
the picture's lower band (grey, full resolution, upright) of the first frame at or after every
multiple of :data:`SAMPLE_S`, and the Shots step saves them beside its other artifacts
(:data:`BANDS_FILE`). The OCR step reads the subtitle track from that file, and decodes the video
itself only when it is missing (an older Shots output) or belongs to another file.

Grey is enough: subtitles are white or yellow (bright in grey) over a dark outline, shadow or box,
and the recogniser reads a grey crop as well as a colour one (bench/ocr.py). Bands are stored as
JPEG at quality 90 (about 3 ms to encode at 720 px; 15–20 MB a minute on the generated
backgrounds of noise and fractals, the worst case; quality 85–95 read the same text in bench/ocr.py).
"""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .._media.frames import DecodedFrame, open_video
from .._workspace import atomic_write_bytes

__all__ = [
    "BANDS_FILE",
    "BAND_BOTTOM",
    "BAND_TOP",
    "SAMPLE_S",
    "BandSample",
    "BandSampler",
    "BandSamples",
    "decode_bands",
    "load_bands",
]

BANDS_FILE = "subtitle_band.npz"
SAMPLE_S = 0.5  # about 2 samples a second
BAND_TOP = 0.6  # the band is the picture below this fraction of its height
BAND_BOTTOM = 0.97  # ... down to here (the very edge holds progress bars and watermarks)
_VERSION = 1
_JPEG_QUALITY = 90


@dataclass(frozen=True)
class BandSample:
    """One sample: when, and the band's grey pixels (``H×W`` uint8, full resolution)."""

    time_s: float
    band: np.ndarray


@dataclass
class BandSamples:
    """Every sample of one video, as JPEG, and the picture they were cut from."""

    times_s: list[float]
    jpegs: list[bytes]
    frame_size: tuple[int, int]  # the upright picture's (width, height)
    end_s: float  # when the video's last frame ends
    source_sha256: str = ""

    @property
    def band_top(self) -> int:
        """The band's first row in the upright picture."""
        return round(self.frame_size[1] * BAND_TOP)

    def __iter__(self) -> Iterator[BandSample]:
        for t, data in zip(self.times_s, self.jpegs, strict=True):
            with Image.open(io.BytesIO(data)) as img:
                yield BandSample(t, np.asarray(img.convert("L")))

    def __len__(self) -> int:
        return len(self.times_s)

    def save(self, path: Path) -> None:
        """Write to ``path`` (``.npz``) atomically."""
        offsets = np.cumsum([0, *(len(j) for j in self.jpegs)], dtype=np.int64)
        buf = io.BytesIO()
        np.savez(
            buf,
            version=np.int64(_VERSION),
            times_s=np.asarray(self.times_s, dtype=np.float64),
            offsets=offsets,
            data=np.frombuffer(b"".join(self.jpegs), dtype=np.uint8),
            frame_size=np.asarray(self.frame_size, dtype=np.int64),
            end_s=np.float64(self.end_s),
            source_sha256=np.str_(self.source_sha256),
        )
        atomic_write_bytes(path, buf.getvalue())


def load_bands(path: Path, sha256: str) -> BandSamples | None:
    """The samples saved at ``path`` for the video whose SHA-256 is ``sha256``; None when the file
    is missing, unreadable, of another version or of another video."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != _VERSION or str(z["source_sha256"]) != sha256:
                return None
            offsets, data = z["offsets"], z["data"].tobytes()
            w, h = (int(v) for v in z["frame_size"])
            return BandSamples(
                times_s=[float(t) for t in z["times_s"]],
                jpegs=[data[a:b] for a, b in itertools.pairwise(offsets)],
                frame_size=(w, h),
                end_s=float(z["end_s"]),
                source_sha256=sha256,
            )
    except (OSError, ValueError, KeyError, TypeError):
        return None


class BandSampler:
    """Keeps the band of the first frame offered at or after every multiple of :data:`SAMPLE_S`.

    Frames are offered while they are current, in presentation order or in stretches that are
    each in presentation order, from one thread each (the Shots pass decodes stretches of a video
    side by side); a decoding pass may skip some frames: the next one offered stands in, a few
    frames late at most.
    """

    def __init__(self) -> None:
        self.frame_size = (0, 0)
        self._kept: dict[int, tuple[float, bytes]] = {}  # slot (multiple of SAMPLE_S) → sample
        self._lock = threading.Lock()

    @property
    def times_s(self) -> list[float]:
        return [self._kept[slot][0] for slot in sorted(self._kept)]

    @property
    def jpegs(self) -> list[bytes]:
        return [self._kept[slot][1] for slot in sorted(self._kept)]

    def offer(self, frame: DecodedFrame) -> None:
        """Keep ``frame``'s band if no earlier frame of its slot was kept."""
        slot, t = int((frame.time_s + 1e-6) / SAMPLE_S), round(frame.time_s, 3)
        with self._lock:
            if slot in self._kept and self._kept[slot][0] <= t:
                return
        picture = frame.render(None, "gray")
        h, w = picture.shape[:2]
        band = picture[round(h * BAND_TOP) : round(h * BAND_BOTTOM)]
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(band)).save(buf, format="JPEG", quality=_JPEG_QUALITY)
        with self._lock:
            if slot not in self._kept or t < self._kept[slot][0]:
                self._kept[slot] = (t, buf.getvalue())
                self.frame_size = (w, h)

    def samples(self, end_s: float, source_sha256: str = "") -> BandSamples:
        """What was kept; ``end_s``: when the video's last frame ends."""
        return BandSamples(self.times_s, self.jpegs, self.frame_size, end_s, source_sha256)


def decode_bands(src: Path) -> BandSamples:
    """Sample the band of the video ``src`` in a decoding pass of its own (when no Shots pass did)."""
    sampler = BandSampler()
    end_s = 0.0
    with open_video(src) as video:
        step = 1.0 / float(video.frame_rate)
        for frame in video.frames(width=64, fmt="gray", fast=True):
            sampler.offer(frame)
            end_s = frame.time_s + step
    return sampler.samples(round(end_s, 3))
