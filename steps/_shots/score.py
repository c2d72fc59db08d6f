"""Per-frame measurements of the analysis pass, computed with OpenCV kernels.

:class:`ContentScore` is PySceneDetect 0.6's ``ContentDetector`` frame score (``content_val`` with
the default weights: the mean absolute change of hue, saturation and value between consecutive
frames, averaged over the three) computed with ``cv2.absdiff`` and ``cv2.sumElems`` instead of
NumPy ``int32`` arithmetic: the same number, about three times cheaper. :class:`HistogramDistance`
compares the frames' colour distributions, which motion leaves nearly unchanged;
:class:`LayoutChange` their coarse layout, which compression artefacts leave unchanged.
:class:`FrameMeter` takes all of them (and sharpness) from one small planar I420 frame.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .keyframes import sharpness

__all__ = [
    "ContentScore",
    "FrameMeter",
    "HistogramDistance",
    "LaggedColours",
    "LayoutChange",
    "Measures",
    "histogram_distance",
    "i420_luma",
    "i420_to_bgr",
]

# Hue × saturation × value bins: coarse enough that motion and noise stay within a bin.
_HIST_BINS = [16, 4, 4]
_HIST_RANGES = [0, 180, 0, 256, 0, 256]


def i420_luma(image: np.ndarray) -> np.ndarray:
    """The luma plane of a planar I420 image shaped ``(height * 3 / 2, width)``."""
    return image[: image.shape[0] * 2 // 3]


def i420_to_bgr(image: np.ndarray) -> np.ndarray:
    """A planar I420 image (``(height * 3 / 2, width)``, 8-bit) as BGR (BT.601, limited range)."""
    return cv2.cvtColor(image, cv2.COLOR_YUV2BGR_I420)


class ContentScore:
    """Fed BGR frames in order; returns each frame's content score (0.0 for the first)."""

    def __init__(self) -> None:
        self._last: np.ndarray | None = None

    def __call__(self, bgr: np.ndarray) -> float:
        """The score of ``bgr`` against the previous frame given."""
        return self.of_hsv(cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV))

    def of_hsv(self, hsv: np.ndarray) -> float:
        """The score of a frame already converted to HSV."""
        last, self._last = self._last, hsv
        if last is None or last.shape != hsv.shape:
            return 0.0
        h, s, v, _ = cv2.sumElems(cv2.absdiff(hsv, last))
        return float((h + s + v) / (3.0 * hsv.shape[0] * hsv.shape[1]))


def colour_histogram(hsv: np.ndarray) -> np.ndarray:
    """The normalised hue × saturation × value histogram of an HSV frame (every other pixel of
    every other row: the same histogram within noise, at half the cost)."""
    half = cv2.resize(
        hsv, (max(1, hsv.shape[1] // 2), max(1, hsv.shape[0] // 2)), interpolation=cv2.INTER_NEAREST
    )
    hist = cv2.calcHist([half], [0, 1, 2], None, _HIST_BINS, _HIST_RANGES)
    return np.asarray(hist, dtype=np.float32) / np.float32(half.shape[0] * half.shape[1])


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance of two normalised histograms: 0.0 (same colours) to 1.0 (none shared)."""
    return float(0.5 * cv2.norm(a, b, cv2.NORM_L1))


class HistogramDistance:
    """Fed HSV frames in order; returns how far each frame's colour histogram moved from the
    previous frame's (:func:`histogram_distance`; 0.0 for the first). ``last`` is the histogram
    of the frame given last."""

    def __init__(self) -> None:
        self.last: np.ndarray | None = None

    def __call__(self, hsv: np.ndarray) -> float:
        hist = colour_histogram(hsv)
        last, self.last = self.last, hist
        return 0.0 if last is None else histogram_distance(hist, last)


class LaggedColours:
    """Fed measured frames' histograms (any order within ``lag + 1`` frames, usually ascending);
    gives the colour distance between frames ``t - 1`` and ``t + lag`` once both were seen."""

    def __init__(self, lag: int) -> None:
        self.lag = lag
        self._seen: dict[int, np.ndarray] = {}

    def add(self, index: int, hist: np.ndarray) -> tuple[int, float] | None:
        """Remember frame ``index``; ``(t, distance)`` when it completes the pair of frame ``t``."""
        self._seen[index] = hist
        if len(self._seen) > self.lag + 2:
            for old in [i for i in self._seen if i < index - self.lag - 1]:
                del self._seen[old]
        before = self._seen.get(index - self.lag - 1)
        if before is None:
            return None
        return index - self.lag, histogram_distance(before, hist)


class LayoutChange:
    """Fed gray frames in order; returns how much the picture's coarse layout changed: the mean
    absolute difference of the frames shrunk eight times (0.0 for the first). Shrinking averages
    away noise, compression artefacts and small motion; a cut to another scene remains."""

    FACTOR = 8  # a whole factor: OpenCV's fast box filter

    def __init__(self) -> None:
        self._last: np.ndarray | None = None

    def __call__(self, gray: np.ndarray) -> float:
        f = self.FACTOR
        h, w = max(1, gray.shape[0] // f), max(1, gray.shape[1] // f)
        small = cv2.resize(gray[: h * f, : w * f], (w, h), interpolation=cv2.INTER_AREA)
        last, self._last = self._last, small
        if last is None or last.shape != small.shape:
            return 0.0
        return float(cv2.norm(small, last, cv2.NORM_L1)) / small.size


class Measures:
    """One frame's measurements (NaN where a measurement needs a frame that was not measured)."""

    __slots__ = ("colours", "content", "hist", "layout", "sharpness")

    def __init__(self, content: float, hist: float, layout: float, sharp: float, colours: np.ndarray) -> None:
        self.content = content
        self.hist = hist
        self.layout = layout
        self.sharpness = sharp
        self.colours = colours  # the frame's colour histogram


class FrameMeter:
    """Measures small planar I420 frames: change against the previous frame, and sharpness.

    Frames normally arrive one after the other; :meth:`measure` with ``follows=False`` says that
    the previous frame given is not this frame's predecessor, so no change can be measured.
    """

    def __init__(self) -> None:
        self._content = ContentScore()
        self._hist = HistogramDistance()
        self._layout = LayoutChange()

    def measure(self, image: np.ndarray, *, first: bool = False, follows: bool = True) -> Measures:
        """Content score, histogram distance, layout change and sharpness of ``image`` (frame 0
        when ``first``)."""
        if not follows:
            self._content = ContentScore()
            self._hist = HistogramDistance()
            self._layout = LayoutChange()
        hsv = cv2.cvtColor(i420_to_bgr(image), cv2.COLOR_BGR2HSV)
        luma = i420_luma(image)
        content = self._content.of_hsv(hsv)
        hist = self._hist(hsv)
        layout = self._layout(luma)
        if not follows and not first:
            content = hist = layout = math.nan
        assert self._hist.last is not None
        return Measures(content, hist, layout, sharpness(luma), self._hist.last)
