"""Cut rules: which frames start a new shot, decided from per-frame scores.

Every rule works in two stages, which is what lets a sparse scan (:mod:`.coarse`) place the same
cuts as a pass over every frame:

1. **flags**, a local test: frame ``t`` is flagged from the scores of frames ``t - window`` to
   ``t + window`` only. Scores that were not measured are NaN, and a frame whose window holds a NaN
   is not flagged.
2. **gating**, a scan over the flagged frames in order that enforces the minimum shot length.

``adaptive`` and ``content`` are PySceneDetect 0.6.7.1's AdaptiveDetector and ContentDetector
(FlashFilter in MERGE mode), written in this two-stage form: fed the same content scores they
place the same cuts (tests/steps/test_shot_rules.py replays both side by side). ``hybrid``, the
default, is AdaptiveDetector's test plus two that let a ContentDetector flag through only when the
colour histogram, which motion leaves nearly unchanged, confirms a change of scene:

- a hard cut between high-motion shots, where the content score stays high on both sides of the
  cut and the adaptive ratio falls short: the histogram jumps at that frame, and so does the
  coarse layout of the picture (which tells a cut from the new compression artefacts of an
  intra frame in noisy video: those change the colours' spread, not the layout);
- a gradual transition (dissolve, fade): the content score climbs over the threshold and the
  colours half a second later differ from those before, unless a change of colours at a single
  frame within that half second explains it (a hard cut, or an intra frame's new artefacts).

Tuned on generated high-motion cuts and ``xfade`` transitions (tests/media.py); on every test
video its F1 is at least the better of ContentDetector's and AdaptiveDetector's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "DETECTORS",
    "AdaptiveRule",
    "ContentRule",
    "CutRule",
    "DetectorName",
    "HybridRule",
    "ScoreTrack",
    "default_threshold",
    "make_rule",
]

DetectorName = Literal["hybrid", "adaptive", "content", "transnet"]
DETECTORS: tuple[DetectorName, ...] = ("hybrid", "adaptive", "content", "transnet")
_DEFAULTS: dict[str, float] = {"hybrid": 3.0, "adaptive": 3.0, "content": 27.0, "transnet": 0.5}
_ZERO = 0.00001  # PySceneDetect's "average is zero" tolerance
_MAX_RATIO = 255.0


LAG = 12  # frames over which the hybrid rule looks for a gradual change of colours


@dataclass(frozen=True)
class ScoreTrack:
    """Per-frame scores of one video; NaN where a frame was not measured.

    ``content[t]``, ``hist[t]`` and ``layout[t]`` compare frame ``t`` with frame ``t - 1`` (0.0
    for frame 0);
    ``lagged[t]`` compares the colours of frames ``t - 1`` and ``t + LAG``.
    """

    content: np.ndarray  # PySceneDetect's content score (mean HSV change)
    hist: np.ndarray  # histogram distance (0: same colours, 1: no colour in common)
    lagged: np.ndarray  # histogram distance across a gradual transition starting at the frame
    layout: np.ndarray  # change of the gray picture shrunk eight times (mean of 8-bit levels)

    @property
    def frame_count(self) -> int:
        return len(self.content)


def default_threshold(detector: DetectorName) -> float:
    """The threshold ``detector`` uses when the request gives none."""
    return _DEFAULTS[detector]


def _window_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the ``window`` values on each side of every frame (NaN at the ends), summed in the
    order PySceneDetect sums them, so equal inputs give bit-equal ratios."""
    n = len(values)
    out = np.full(n, np.nan)
    if n < 2 * window + 1:
        return out
    total = np.zeros(n - 2 * window)
    for k in range(2 * window + 1):
        if k != window:
            total = total + values[k : n - 2 * window + k]
    out[window : n - window] = total / (2.0 * window)
    return out


def _ratio(values: np.ndarray, window: int, min_value: float) -> np.ndarray:
    """AdaptiveDetector's ratio of each score to the mean of its neighbours (capped at 255)."""
    avg = _window_mean(values, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.minimum(values / avg, _MAX_RATIO)
    zero = np.abs(avg) < _ZERO
    ratio[zero] = np.where(values[zero] >= min_value, _MAX_RATIO, 0.0)
    return ratio


class CutRule:
    """A two-stage cut rule (see the module docstring)."""

    window = 2  # frames on each side the adaptive ratio averages
    floor = 0.0  # no frame whose content score is below this is ever flagged

    crossing: float | None = None  # a content score a flag may need to reach, standing out or not

    @property
    def reach(self) -> tuple[int, int]:
        """Frames before and after a frame whose pictures decide whether it is flagged."""
        return self.window + 1, self.window

    def __init__(self, min_shot_frames: int) -> None:
        self.min_shot_frames = min_shot_frames

    def flags(self, track: ScoreTrack) -> np.ndarray:
        """Boolean per frame: frames that pass the rule's local test."""
        raise NotImplementedError

    def gate(self, flagged: Iterable[int], frame_count: int) -> list[int]:
        """Cuts among ``flagged`` (ascending) that respect the minimum shot length."""
        cuts: list[int] = []
        last = 0
        for t in flagged:
            # AdaptiveDetector measures the length when it decides, ``window`` frames later.
            if t + self.window - last >= self.min_shot_frames:
                cuts.append(t)
                last = t
        return cuts

    def cuts(self, track: ScoreTrack) -> list[int]:
        """The first frame of every shot after the first."""
        n = track.frame_count
        flagged = (int(t) for t in np.flatnonzero(self.flags(track)))
        return [c for c in self.gate(flagged, n) if 0 < c < n]

    @property
    def sparse_ok(self) -> bool:
        """Whether a scan that scores only where the picture changes finds every cut (see coarse)."""
        return False


class AdaptiveRule(CutRule):
    """PySceneDetect's AdaptiveDetector: a score well above the mean of its neighbours."""

    def __init__(self, ratio: float, min_shot_frames: int, *, min_content: float = 15.0) -> None:
        super().__init__(min_shot_frames)
        self.ratio = ratio
        self.floor = min_content

    def flags(self, track: ScoreTrack) -> np.ndarray:
        s = track.content
        ratio = _ratio(s, self.window, self.floor)
        with np.errstate(invalid="ignore"):
            return np.asarray((ratio >= self.ratio) & (s >= self.floor))

    @property
    def sparse_ok(self) -> bool:
        return self.ratio >= 2.5 and self.floor >= 15.0


class HybridRule(AdaptiveRule):
    """AdaptiveDetector's test, or a high content score that the colour histogram confirms."""

    HIST_MIN = 0.5  # the histogram distance of a hard cut to other colours
    HIST_RATIO = 4.0  # ... and its jump over the neighbours' mean (motion keeps colours)
    LAYOUT_RATIO = 2.0  # ... and the layout's (an intra frame's new compression artefacts keep it)
    LAGGED_MIN = 0.4  # the colour change across a gradual transition
    LONE_MIN = 0.2  # a change of colours at one frame (standing out HIST_RATIO times) that explains it

    def __init__(self, ratio: float, min_shot_frames: int, *, content_threshold: float = 27.0) -> None:
        super().__init__(ratio, min_shot_frames)
        self.content_threshold = content_threshold
        self.crossing = content_threshold

    @property
    def reach(self) -> tuple[int, int]:
        return self.window + 1, LAG + self.window

    def flags(self, track: ScoreTrack) -> np.ndarray:
        s, h = track.content, track.hist
        jump = _ratio(h, self.window, self.HIST_MIN)
        moved = _ratio(track.layout, self.window, 0.5)
        with np.errstate(invalid="ignore"):
            lone = (h >= self.LONE_MIN) & (jump >= self.HIST_RATIO)  # colours change at one frame
            hard = lone & (h >= self.HIST_MIN) & (s >= self.content_threshold) & (moved >= self.LAYOUT_RATIO)
            hard |= super().flags(track)
            above = s >= self.content_threshold
            gradual = above & (track.lagged >= self.LAGGED_MIN)
        gradual[1:] &= ~above[:-1]  # where the content score climbs over the threshold
        gradual[0] = False
        for t in np.flatnonzero(gradual):
            # a change of colours at one frame explains it: a hard cut, or an intra frame's new
            # compression artefacts (which change the colours' spread, not the layout)
            if (hard | lone)[t : t + LAG + 1].any():
                gradual[t] = False
        return np.asarray(hard | gradual)


class ContentRule(CutRule):
    """PySceneDetect's ContentDetector: a score at or above the threshold, cuts closer than the
    minimum shot length merged (FlashFilter MERGE)."""

    window = 0

    def __init__(self, threshold: float, min_shot_frames: int) -> None:
        super().__init__(min_shot_frames)
        self.floor = threshold

    def flags(self, track: ScoreTrack) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.asarray(track.content >= self.floor)

    def gate(self, flagged: Iterable[int], frame_count: int) -> list[int]:
        # FlashFilter's MERGE state machine, visited at the flagged frames and at the one
        # unflagged frame per gap where it can end a merge (it changes state nowhere else).
        length = self.min_shot_frames
        if length <= 0:
            return list(flagged)
        cuts: list[int] = []
        last_above = 0
        enabled = triggered = False
        merge_start = 0
        for t in [*flagged, frame_count]:
            release = last_above + length
            if triggered and last_above - merge_start >= length and release < min(t, frame_count):
                triggered = False
                cuts.append(last_above)
            if t >= frame_count:
                break
            length_met = t - last_above >= length
            last_above = t
            if triggered:
                continue
            if length_met:
                enabled = True
                cuts.append(t)
            elif enabled:
                triggered, merge_start = True, t
        return cuts


def make_rule(detector: DetectorName, threshold: float | None, min_shot_frames: int) -> CutRule:
    """The rule of a frame-difference ``detector``; ``threshold`` is its ratio or content score."""
    value = default_threshold(detector) if threshold is None else threshold
    if detector == "hybrid":
        return HybridRule(value, min_shot_frames)
    if detector == "adaptive":
        return AdaptiveRule(value, min_shot_frames)
    if detector == "content":
        return ContentRule(value, min_shot_frames)
    raise ValueError(f"{detector!r} is not a frame-difference detector")
