"""Burned-in subtitles as a timed track: the picture's lower band sampled about twice a second.

One decoding pass at analysis width (fast: no deblocking) gives every frame small and grey; a
sample whose band looks as before (no pixel moved beyond compression noise) is the same cue and
costs nothing more. A changed band is shown to the coarse scan (text boxes on a small picture,
no reading): a band without text is not read. A band where the last text's bright strokes are
found again inside its boxes (the background moved behind unchanged text) is neither scanned nor
read. Only the rest is read, at full resolution. Consecutive samples with the same text become one
cue.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._artifacts import Segment
from .._media.frames import DecodedFrame, VideoStream, open_video
from .lines import clean_lines, same_text
from .reader import TextReader

__all__ = ["BAND_TOP", "SAMPLE_S", "SubtitleTrack", "read_subtitle_track"]

SAMPLE_S = 0.5  # about 2 samples a second
BAND_TOP = 0.6  # the band is the picture below this fraction of its height
BAND_BOTTOM = 0.97  # ... down to here (the very edge holds progress bars and watermarks)
# A band is unchanged when almost no pixel of its small grey picture moved by more than compression
# noise does. (A perceptual hash is too coarse here: a new line of text in the same place over a
# still background changes only its high frequencies, and pHash keeps the low ones.)
_PIXEL_CHANGE = 24  # grey levels
_CHANGED_SHARE = 0.002  # of the band's pixels
_TRACK_WIDTH = 320  # analysis width of the decoding pass
_BOX_SHIFT = 0.02  # text boxes moved less than this (fraction of the band) lie where they lay
_BRIGHT = 190  # stroke pixels: the brightest channel at least this (white and yellow text)
_SAME_STROKES = 0.9  # of either sample's strokes, this share found again in the other: the same text


@dataclass
class SubtitleTrack:
    """The cues read, and what the reading cost."""

    cues: list[Segment] = field(default_factory=list)
    samples: int = 0
    read: int = 0  # samples read at full resolution
    skipped: int = 0  # samples shown unchanged (pixels, or boxes and strokes) or textless


def _band(image: np.ndarray) -> np.ndarray:
    h = image.shape[0]
    return image[round(h * BAND_TOP) : round(h * BAND_BOTTOM)]


def _samples(video: VideoStream, last: list[float]) -> Iterator[DecodedFrame]:
    """The first frame at or after every multiple of :data:`SAMPLE_S`; ``last`` gets the time the
    last frame ends."""
    step = 1.0 / float(video.frame_rate)
    due = 0.0
    for frame in video.frames(width=_TRACK_WIDTH, fmt="gray", fast=True):
        last[:] = [frame.time_s + step]
        if frame.time_s + 1e-6 >= due:
            yield frame
            due = (int(frame.time_s / SAMPLE_S) + 1) * SAMPLE_S


class _Cues:
    """Samples' texts merged into cues: the same text on consecutive samples is one cue, and one
    sample that missed it (a blurred frame, a busy background) does not split the cue."""

    def __init__(self) -> None:
        self.cues: list[Segment] = []
        self.open: Segment | None = None
        self.missed: float | None = None  # when the open cue's text was last not read

    def add(self, time_s: float, text: str) -> None:
        cue = self.open
        bridged = self.missed is None or time_s - self.missed <= SAMPLE_S + 1e-6
        if cue is not None and text and same_text(text, cue.text) and bridged:
            cue.end_s = round(time_s + SAMPLE_S, 3)
            self.missed = None
            return
        if cue is not None and not text and self.missed is None:
            self.missed = time_s  # the cue may go on: decide on the next sample
            return
        self.close()
        if text:
            self.open = Segment(start_s=round(time_s, 3), end_s=round(time_s + SAMPLE_S, 3), text=text)

    def close(self, end_s: float | None = None) -> None:
        if self.open is not None:
            ends = [self.open.end_s, *(t for t in (self.missed, end_s) if t is not None)]
            self.open.end_s = round(min(ends), 3)
            self.cues.append(self.open)
        self.open, self.missed = None, None


def read_subtitle_track(src: Path, reader: TextReader) -> SubtitleTrack:
    """The burned-in subtitles of the video ``src``, as timed cues."""
    with open_video(src) as video:
        return _read(video, reader)


def _unchanged(before: np.ndarray, now: np.ndarray) -> bool:
    """Whether two small grey bands differ by no more than compression noise."""
    if before.shape != now.shape:
        return False
    return float(np.mean(np.abs(now - before) > _PIXEL_CHANGE)) <= _CHANGED_SHARE


def _bright(band: np.ndarray) -> np.ndarray:
    """The band's bright pixels: the strokes of white or yellow text (yellow is bright in R and G)."""
    return np.asarray(band.max(axis=2) >= _BRIGHT)


def _grow(mask: np.ndarray) -> np.ndarray:
    """``mask`` grown by one pixel each way (text re-encoded or shifted a pixel still matches)."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= out[:, :-1].copy()
    out[:, :-1] |= out[:, 1:].copy()
    return out


@dataclass(frozen=True)
class Glyphs:
    """A sample's text boxes (fractions of the band) and the band's bright pixels."""

    boxes: list[tuple[float, float, float, float]]
    bright: np.ndarray


def _same_glyphs(a: Glyphs | None, b: Glyphs) -> bool:
    """Whether two samples show the same text: boxes where they were, and inside them the bright
    strokes of each found again (within a pixel) in the other."""
    if a is None or len(a.boxes) != len(b.boxes) or not a.boxes or a.bright.shape != b.bright.shape:
        return False
    h, w = b.bright.shape
    for p, q in zip(a.boxes, b.boxes, strict=True):
        if max(abs(x - y) for x, y in zip(p, q, strict=True)) > _BOX_SHIFT:
            return False
        x0, y0 = int(min(p[0], q[0]) * w), int(min(p[1], q[1]) * h)
        x1, y1 = int(max(p[2], q[2]) * w) + 1, int(max(p[3], q[3]) * h) + 1
        ma, mb = a.bright[y0:y1, x0:x1], b.bright[y0:y1, x0:x1]
        for one, other in ((ma, mb), (mb, ma)):
            strokes = one.sum()
            if not strokes or (one & _grow(other)).sum() / strokes < _SAME_STROKES:
                return False
    return True


def _read(video: VideoStream, reader: TextReader) -> SubtitleTrack:
    track = SubtitleTrack()
    cues = _Cues()
    last_small: np.ndarray | None = None
    last: Glyphs | None = None
    text = ""
    end = [0.0]
    for frame in _samples(video, end):
        track.samples += 1
        small = _band(frame.image).astype(np.int16)
        if last_small is not None and _unchanged(last_small, small):
            track.skipped += 1
            cues.add(frame.time_s, text)
            continue
        last_small = small
        full = frame.render(None, "bgr24")
        band = _band(full)
        bright = _bright(band)
        if text and last is not None and _same_glyphs(last, Glyphs(last.boxes, bright)):
            track.skipped += 1  # the strokes of the last text are still where they were
            last = Glyphs(last.boxes, bright)
            cues.add(frame.time_s, text)
            continue
        boxes = reader.boxes(band, None)  # at full size: small subtitles on busy backgrounds are found
        glyphs = Glyphs(boxes, bright)
        if not boxes:
            text = ""
            track.skipped += 1
        elif text and _same_glyphs(last, glyphs):
            track.skipped += 1  # the background moved, the text did not
        else:
            track.read += 1
            top = round(full.shape[0] * BAND_TOP)
            raw = reader.read(band, band=True)
            lines = clean_lines(raw, full.shape[1], band.shape[0], y_offset=top, full_height=full.shape[0])
            text = " ".join(line.text for line in lines if line.kind == "subtitle")
        last = glyphs
        cues.add(frame.time_s, text)
    cues.close(round(end[0], 3))
    track.cues = cues.cues
    return track
