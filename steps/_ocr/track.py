"""Burned-in subtitles as a timed track: the picture's lower band sampled about twice a second.

The samples come from the Shots pass's decoding (:mod:`.bands`): reading the track decodes
nothing. Each sample costs as little as it can, cheapest test first:

1. The band looks as before (no pixel of a small copy moved beyond compression noise): same cue.
2. The last text's bright strokes are all found again inside its boxes, and no new strokes stand
   still anywhere else: same cue (the background moved behind unchanged text).
3. Otherwise the detector looks at strips of the band only: where the last text was, and rows
   where thin bright strokes stood still since the sample before (text stands still while
   backgrounds move). Where such rows cover most of the band (a textured background) it glances at
   the whole band shrunk first. A strip costs a fraction of the whole band.
4. Boxes whose strokes are the last text's: same cue. Otherwise each box is recognised once, at
   full resolution (no second detection), and the text read starts a new cue.

New text is found once it stands still, one sample after it appears; when its strokes were there
on the sample before already, its cue starts there. Strokes are bright pixels: white and yellow
subtitles (the usual ones). Dark text on a light box is not looked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .._artifacts import Segment
from .bands import BAND_BOTTOM, BAND_TOP, SAMPLE_S, BandSample, BandSamples
from .lines import clean_lines, same_text
from .reader import TextReader

__all__ = [
    "BAND_BOTTOM",
    "BAND_TOP",
    "DETECT_SHORT_SIDE",
    "GLANCE_SHORT_SIDE",
    "SAMPLE_S",
    "SubtitleTrack",
    "read_subtitle_track",
]

DETECT_SHORT_SIDE = 720  # strips are detected at full size up to this short side (larger: shrunk)
# A band is unchanged when almost no pixel of its small grey copy moved by more than compression
# noise does. (A perceptual hash is too coarse here: a new line of text in the same place over a
# still background changes only its high frequencies, and pHash keeps the low ones.)
_PIXEL_CHANGE = 24  # grey levels
_CHANGED_SHARE = 0.002  # of the band's pixels
_TRACK_WIDTH = 320  # width of the small copy
_BOX_SHIFT = 0.02  # text boxes moved less than this (fraction of the band) lie where they lay
_BRIGHT = 190  # stroke pixels: at least this grey (white text, and yellow: about 226)
_SAME_STROKES = 0.9  # of the text's strokes, this share found again: the same text ...
_MORE_STROKES = 2.5  # ... unless the box holds this many times as many bright pixels now
_MIN_LINE = 0.012  # of the picture's short side: a line of text is at least this tall
_STROKE = 0.015  # ... and its strokes thinner than this
_ROW_SHARE = 0.01  # of the band's width: static thin strokes on a row that may hold text
_WHOLE_BAND = 0.6  # stretches to look at covering more of the band than this: glance at all of it,
GLANCE_SHORT_SIDE = 360  # ... shrunk to this short side (a quarter of the cost at 720), then a
# close look where it shows text


@dataclass
class SubtitleTrack:
    """The cues read, and what the reading cost."""

    cues: list[Segment] = field(default_factory=list)
    samples: int = 0
    read: int = 0  # samples read at full resolution
    skipped: int = 0  # samples shown unchanged (pixels, or boxes and strokes) or textless


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


def _unchanged(before: np.ndarray, now: np.ndarray) -> bool:
    """Whether two small grey bands differ by no more than compression noise."""
    if before.shape != now.shape:
        return False
    return float(np.mean(np.abs(now - before) > _PIXEL_CHANGE)) <= _CHANGED_SHARE


def _bright(band: np.ndarray) -> np.ndarray:
    """The band's bright pixels: the strokes of white or yellow text."""
    return np.asarray(band >= _BRIGHT)


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
    """Whether sample ``b`` still shows the text of ``a``: boxes where they were, and inside each
    the bright strokes of ``a`` found again (within a pixel), with not many more besides (bright
    background moving behind the text adds some; new text, or a white flash, changes the count)."""
    if a is None or len(a.boxes) != len(b.boxes) or not a.boxes or a.bright.shape != b.bright.shape:
        return False
    h, w = b.bright.shape
    for p, q in zip(a.boxes, b.boxes, strict=True):
        if max(abs(x - y) for x, y in zip(p, q, strict=True)) > _BOX_SHIFT:
            return False
        x0, y0 = int(min(p[0], q[0]) * w), int(min(p[1], q[1]) * h)
        x1, y1 = int(max(p[2], q[2]) * w) + 1, int(max(p[3], q[3]) * h) + 1
        was, now = a.bright[y0:y1, x0:x1], b.bright[y0:y1, x0:x1]
        strokes = int(was.sum())
        if not strokes or now.sum() > _MORE_STROKES * strokes:
            return False
        if (was & _grow(now)).sum() / strokes < _SAME_STROKES:
            return False
    return True


def _small(band: np.ndarray) -> np.ndarray:
    h, w = band.shape[:2]
    size = (_TRACK_WIDTH, max(1, round(h * _TRACK_WIDTH / w)))
    return cv2.resize(band, size, interpolation=cv2.INTER_AREA).astype(np.int16)


def _row_runs(rows: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Runs of true rows ``(first, last)``, joined across gaps of up to ``gap`` rows."""
    runs: list[tuple[int, int]] = []
    for y in np.flatnonzero(rows):
        if runs and y - runs[-1][1] <= gap + 1:
            runs[-1] = (runs[-1][0], int(y))
        else:
            runs.append((int(y), int(y)))
    return runs


class _Track:
    """The reading of one video's band samples, in order (see the module docstring)."""

    def __init__(self, samples: BandSamples, reader: TextReader) -> None:
        width, height = samples.frame_size
        short = max(1, min(width, height))
        self.reader = reader
        self.scale = min(1.0, DETECT_SHORT_SIDE / short)
        self.glance = min(1.0, GLANCE_SHORT_SIDE / short)
        self.top, self.height = samples.band_top, height
        self.min_line = max(4, round(_MIN_LINE * short))  # rows a line of text is tall, at least
        self.stroke = max(3, round(_STROKE * short))  # strokes are thinner than this
        self.out = SubtitleTrack()
        self.cues = _Cues()
        self.glyphs: Glyphs | None = None  # the text boxes on the band now, and their strokes
        self.text = ""  # the subtitle they read ("" none)
        self.pending: tuple[float, str] | None = None  # the last sample, not yet given to the cues
        self.prev_small: np.ndarray | None = None
        self.prev_bright: np.ndarray | None = None
        self.glanced_in_vain = False  # the last sample was glanced at whole and showed no text

    def add(self, sample: BandSample) -> None:
        """Read one sample (samples come in time order)."""
        self.out.samples += 1
        band = sample.band
        small = _small(band)
        if self.prev_small is not None and _unchanged(self.prev_small, small):
            self._emit(sample.time_s)
            return
        self.prev_small = small
        bright = _bright(band)
        before, self.prev_bright = self.prev_bright, bright
        known = self._rows(self.glyphs) if self.glyphs is not None else []
        fresh = [r for r in self._candidates(bright, before) if not _overlaps(r, known)]
        kept = Glyphs(self.glyphs.boxes, bright) if self.glyphs is not None else None
        # the strokes of the text are where they were: only new strokes elsewhere may be new text
        if (
            kept is not None
            and _same_glyphs(self.glyphs, kept)
            and not (fresh and self._finds_text(band, fresh))
        ):
            self.glyphs = kept
            self._emit(sample.time_s)
            return
        if known or fresh:
            self._look(band, bright, known + fresh)
        else:
            self.glyphs, self.text = None, ""
        if (
            self.text
            and self.glyphs is not None
            and before is not None
            and self.pending is not None
            and self.pending[1] != self.text
            and _same_glyphs(self.glyphs, Glyphs(self.glyphs.boxes, before))
        ):
            # new text is found once it stands still: it may have been there a sample before already
            self.pending = (self.pending[0], self.text)
        self._emit(sample.time_s)

    def _emit(self, time_s: float) -> None:
        if self.pending is not None:
            self.cues.add(*self.pending)
        self.pending = (time_s, self.text)

    def finish(self, end_s: float) -> SubtitleTrack:
        """The cues, the last one ending at ``end_s``."""
        if self.pending is not None:
            self.cues.add(*self.pending)
        self.cues.close(round(end_s, 3))
        self.out.cues = self.cues.cues
        self.out.skipped = self.out.samples - self.out.read
        return self.out

    @staticmethod
    def _rows(glyphs: Glyphs) -> list[tuple[int, int]]:
        h = glyphs.bright.shape[0]
        return [(int(b[1] * h), int(b[3] * h)) for b in glyphs.boxes]

    def _candidates(self, bright: np.ndarray, before: np.ndarray | None) -> list[tuple[int, int]]:
        """Rows where thin bright strokes stayed put since the sample before: where text may be."""
        if before is None:
            return []
        kernel = np.ones((self.stroke, self.stroke), np.uint8)
        thick = cv2.morphologyEx(bright.view(np.uint8), cv2.MORPH_OPEN, kernel).astype(bool)
        static = bright & ~thick & _grow(before)
        dense = static.sum(axis=1) >= max(3, _ROW_SHARE * bright.shape[1])
        return [(a, b) for a, b in _row_runs(dense, self.stroke) if b - a + 1 >= self.min_line]

    def _spans(self, rows: list[tuple[int, int]], h: int) -> list[tuple[int, int]]:
        """``rows`` each widened by half its height (a line's full height), merged, as slices."""
        spans: list[tuple[int, int]] = []
        for a, b in sorted(rows):
            pad = max(self.min_line, (b - a) // 2)
            a, b = max(0, a - pad), min(h, b + pad + 1)
            if spans and a <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], b))
            else:
                spans.append((a, b))
        return spans

    def _finds_text(self, band: np.ndarray, rows: list[tuple[int, int]]) -> bool:
        """Whether the detector finds a text box in the stretches ``rows`` of the band."""
        return any(
            len(self.reader.detect(band[a:b], self.scale)) for a, b in self._spans(rows, band.shape[0])
        )

    def _look(self, band: np.ndarray, bright: np.ndarray, rows: list[tuple[int, int]]) -> None:
        """Detect text in the stretches ``rows`` of the band and read it, unless it is the text
        shown already; sets :attr:`glyphs` and :attr:`text`."""
        h, w = band.shape
        spans = self._spans(rows, h)
        if sum(b - a for a, b in spans) > _WHOLE_BAND * h:
            # strokes everywhere (a textured background): a glance at the whole band, shrunk (not
            # below GLANCE_SHORT_SIDE: small pictures are not shrunk at all), then a close look
            # where it shows text. Over such a background without text, every other sample is
            # glanced at: text that appears on a skipped one is dated back to it when found.
            skip = self.glanced_in_vain and self.glyphs is None
            glance = np.zeros((0, 4, 2), np.float32) if skip else self.reader.detect(band, self.glance)
            self.glanced_in_vain = not skip and not len(glance)
            found = [(max(0, int(q[:, 1].min())), min(h - 1, int(q[:, 1].max()))) for q in glance]
            spans = self._spans(found, h)
        else:
            self.glanced_in_vain = False
        quads = np.zeros((0, 4, 2), np.float32)
        for a, b in spans:
            part = self.reader.detect(band[a:b], self.scale)
            part[:, :, 1] += a
            quads = np.concatenate([quads, part])
        if not len(quads):
            self.glyphs, self.text = None, ""
            return
        quads = quads[np.lexsort((quads[:, :, 0].min(axis=1), quads[:, :, 1].min(axis=1)))]
        lo, hi = quads.min(axis=1), quads.max(axis=1)  # each box's (left, top) and (right, bottom)
        boxes = [
            (x0 / w, y0 / h, x1 / w, y1 / h)
            for (x0, y0), (x1, y1) in zip(lo.tolist(), hi.tolist(), strict=True)
        ]
        glyphs = Glyphs(boxes, bright)
        if _same_glyphs(self.glyphs, glyphs):
            self.glyphs = glyphs  # the background moved, the text did not
            return
        raw = self.reader.recognize(band, quads)
        lines = clean_lines(raw, w, h, y_offset=self.top, full_height=self.height)
        self.out.read += 1
        self.glyphs = glyphs
        self.text = " ".join(line.text for line in lines if line.kind == "subtitle")


def _overlaps(row: tuple[int, int], rows: list[tuple[int, int]]) -> bool:
    return any(row[0] <= b and a <= row[1] for a, b in rows)


def read_subtitle_track(samples: BandSamples, reader: TextReader) -> SubtitleTrack:
    """The burned-in subtitles shown on ``samples`` (the band of one video), as timed cues."""
    track = _Track(samples, reader)
    for sample in samples:
        track.add(sample)
    return track.finish(samples.end_s)
