"""Cut rules: ``adaptive`` and ``content`` place PySceneDetect's cuts; sparse scores change nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scenedetect import AdaptiveDetector, ContentDetector

from steps._shots import ScoreTrack, make_rule
from steps._shots.transnet import cuts_from_probabilities


class _ScoreFeed:
    """A PySceneDetect content-based detector fed a score per frame instead of an image."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fed = 0.0

    def _calculate_frame_score(self, frame_num: int, frame_img: np.ndarray | None) -> float:
        return self._fed

    def run(self, scores: np.ndarray) -> list[int]:
        cuts: list[int] = []
        for i, score in enumerate(scores):
            self._fed = float(score)
            cuts.extend(self.process_frame(i, None))  # type: ignore[attr-defined]
        cuts.extend(self.post_process(len(scores) - 1))  # type: ignore[attr-defined]
        return sorted({c for c in cuts if 0 < c < len(scores)})


class _Content(_ScoreFeed, ContentDetector):
    pass


class _Adaptive(_ScoreFeed, AdaptiveDetector):
    pass


def _scores(rng: np.random.Generator, n: int) -> np.ndarray:
    """Content scores with the shapes that matter: calm and busy stretches, spikes, flashes,
    runs above the threshold, exact zeros (the adaptive ratio's special case)."""
    base = rng.choice([0.0, 2.0, 12.0, 30.0], size=n // 20 + 1).repeat(20)[:n]
    s = base + rng.gamma(2.0, 2.0, n)
    busy = rng.random(n) < 0.06
    s[busy] += rng.uniform(20, 120, busy.sum())
    spikes = rng.random(n) < 0.05
    s[spikes] = rng.uniform(15, 150, spikes.sum())
    s[rng.random(n) < 0.05] = 0.0
    s[0] = 0.0
    return s


def _track(
    s: np.ndarray,
    h: np.ndarray | None = None,
    lagged: np.ndarray | None = None,
    layout: np.ndarray | None = None,
) -> ScoreTrack:
    zeros = np.zeros(len(s))
    return ScoreTrack(
        np.asarray(s, dtype=np.float64),
        zeros if h is None else h,
        zeros if lagged is None else lagged,
        zeros if layout is None else layout,
    )


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("min_len", [0, 1, 12, 15])
def test_adaptive_and_content_rules_place_pyscenedetects_cuts(seed: int, min_len: int) -> None:
    rng = np.random.default_rng(seed)
    s = _scores(rng, int(rng.integers(3, 400)))
    for ratio in (3.0, 1.5):
        expected = _Adaptive(adaptive_threshold=ratio, min_scene_len=min_len).run(s)
        assert make_rule("adaptive", ratio, min_len).cuts(_track(s)) == expected, ratio
    for threshold in (27.0, 10.0):
        expected = _Content(threshold=threshold, min_scene_len=min_len).run(s)
        assert make_rule("content", threshold, min_len).cuts(_track(s)) == expected, threshold


def test_hybrid_adds_hard_cuts_that_the_colour_histogram_confirms() -> None:
    # two busy shots (content ~40 every frame): the cut scores 75, under 3x its neighbours
    s = np.full(60, 40.0)
    s[0] = 0.0
    s[30] = 75.0
    h = np.full(60, 0.05)
    h[30] = 0.8
    layout = np.full(60, 8.0)
    layout[30] = 40.0
    assert make_rule("adaptive", None, 12).cuts(_track(s, h, layout=layout)) == []
    assert make_rule("hybrid", None, 12).cuts(_track(s, h, layout=layout)) == [30]
    # an intra frame's new compression artefacts: the colours' spread jumps, the layout does not
    assert make_rule("hybrid", None, 12).cuts(_track(s, h, layout=np.full(60, 8.0))) == []
    # motion that keeps the colours (a small histogram change) is no cut
    h[30] = 0.12
    assert make_rule("hybrid", None, 12).cuts(_track(s, h, layout=layout)) == []
    # nor a colour change without a content score over ContentDetector's threshold
    h[30], s[30] = 0.8, 20.0
    assert make_rule("hybrid", None, 12).cuts(_track(s, h, layout=layout)) == []


def test_hybrid_finds_a_gradual_transition_where_the_colours_change() -> None:
    # a calm shot, then a dissolve: the content score climbs over 27 at frame 40
    s = np.concatenate([[0.0], np.full(39, 3.0), np.linspace(28, 40, 20), np.full(40, 3.0)])
    lagged = np.full(100, 0.05)
    lagged[40] = 0.6  # frame 52 has other colours than frame 39
    assert make_rule("adaptive", None, 12).cuts(_track(s)) == []
    assert make_rule("hybrid", None, 12).cuts(_track(s, lagged=lagged)) == [40]
    # the same climb with the colours kept (motion starting) is no cut
    assert make_rule("hybrid", None, 12).cuts(_track(s)) == []
    # nor colours drifting inside a shot that was busy already (no climb)
    busy = np.concatenate([[0.0], np.full(99, 40.0)])
    assert make_rule("hybrid", None, 12).cuts(_track(busy, lagged=lagged)) == []
    # and a hard cut within the next LAG frames explains the change of colours
    s[45], h = 150.0, np.zeros(100)
    h[45] = 0.9
    assert make_rule("hybrid", None, 12).cuts(_track(s, h, lagged)) == [45]


@pytest.mark.parametrize("detector", ["hybrid", "adaptive", "content"])
def test_unmeasured_frames_away_from_the_cuts_change_no_cut(detector: str) -> None:
    rng = np.random.default_rng(7)
    s = rng.gamma(2.0, 2.0, 600)
    s[0] = 0.0
    s[rng.random(600) < 0.03] = 30.0  # flashes, and motion starting
    h = rng.uniform(0.0, 0.2, 600)
    lagged = rng.uniform(0.0, 0.6, 600)
    layout = rng.uniform(2.0, 10.0, 600)
    for cut in (100, 230, 400):
        s[cut], h[cut], layout[cut] = 90.0, 0.9, 60.0
    rule = make_rule(detector, None, 12)  # type: ignore[arg-type]
    full = rule.cuts(_track(s, h, lagged, layout))
    flagged = np.flatnonzero(rule.flags(_track(s, h, lagged, layout)))
    # keep only the frames whose scores decide the flagged ones
    before, after = rule.reach
    keep = np.zeros(600, dtype=bool)
    for t in flagged:
        keep[max(0, t - before + 1) : t + after + 1] = True
    sparse = _track(*(np.where(keep, x, np.nan) for x in (s, h, lagged, layout)))
    assert np.isnan(sparse.content).mean() > 0.5
    assert len(full) >= 3
    assert rule.cuts(sparse) == full


def test_transnet_cut_lands_after_the_middle_of_a_transition() -> None:
    p = np.zeros(300)
    p[49] = 0.9  # a hard cut: the last frame of the old shot
    p[100:111] = 0.8  # a dissolve over frames 100-110
    p[150:155] = p[160:165] = 0.7  # a fade out, black frames, a fade in: one transition
    p[190] = 0.6
    p[193] = 0.3  # under the threshold
    assert cuts_from_probabilities(p, 0.5, 12) == [50, 106, 158, 191]
    assert cuts_from_probabilities(p, 0.65, 12) == [50, 106, 158]
    assert cuts_from_probabilities(p, 0.95, 12) == []
