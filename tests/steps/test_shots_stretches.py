"""Stretches of a video decoded side by side: where they split, and the same scores as one decoder."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from steps._media.frames import open_video, usable_cores
from steps._media.packets import PacketIndex, read_packet_index
from steps._ocr.bands import BandSampler
from steps._shots import analyze
from steps._shots.prefetch import prefetched_all
from steps._shots.stretches import (
    MAX_DECODERS,
    MIN_PIXELS,
    SEAM,
    owned_by,
    stretches,
    threads_each,
    worth_splitting,
)
from steps.errors import CorruptVideo
from tests.media import MadeVideo


def _index(n: int, keys: list[int]) -> PacketIndex:
    key = np.zeros(n, dtype=bool)
    key[keys] = True
    return PacketIndex(
        pts=np.arange(n, dtype=np.int64),
        size=np.full(n, 1000, dtype=np.int64),
        key=key,
        intra=key.copy(),
        ref=np.ones(n, dtype=bool),
        kind=np.full(n, ord("P"), dtype=np.uint8),
        refs_known=True,
        start=0,
        time_base=Fraction(1, 25),
    )


def test_stretches_start_at_keyframes_with_as_much_to_decode_each() -> None:
    index = _index(1000, list(range(0, 1000, 50)))
    every = np.ones(1000, dtype=bool)
    assert stretches(index, every, 2) == [(0, 500 + SEAM), (500, 999)]
    assert stretches(index, every, 4) == [(0, 250 + SEAM), (250, 500 + SEAM), (500, 750 + SEAM), (750, 999)]
    assert stretches(index, every, 1) == [(0, 999)]
    # the frames to decode, not the frames, are shared out
    front = np.zeros(1000, dtype=bool)
    front[:400] = True
    assert stretches(index, front, 2) == [(0, 200 + SEAM), (200, 999)]
    # no keyframe to start a second decoder at
    assert stretches(_index(1000, [0]), every, 2) == [(0, 999)]


def test_by_default_a_short_video_keeps_one_decoder() -> None:
    index = _index(1000, list(range(0, 1000, 50)))
    every = np.ones(1000, dtype=bool)
    small, large = 320 * 180, 1920 * 1080  # 1000 frames: 58 and 2074 million pixels
    assert stretches(index, every, frame_pixels=small) == [(0, 999)]
    assert len(stretches(index, every, frame_pixels=large)) == min(usable_cores(), MAX_DECODERS)
    assert not worth_splitting(1000, small) and worth_splitting(1000, large)
    assert MIN_PIXELS / large < 100  # 1080p: four seconds a stretch


def test_each_decoder_keeps_frame_threads_of_its_own() -> None:
    assert [threads_each(2, 2), threads_each(16, 4), threads_each(3, 2), threads_each(1, 1)] == [2, 4, 2, 2]


def test_renders_go_to_the_stretch_that_shows_the_frame() -> None:
    parts = [(0, 514), (500, 999)]
    assert owned_by({3: 64, 499: None, 500: 64, 999: 64, 5000: 64}, parts, 1000) == [
        {3: 64, 499: None},
        {500: 64, 999: 64, 5000: 64},
    ]


def test_prefetched_all_merges_sources_and_stops_every_thread() -> None:
    def source(start: int, fail_at: int | None = None) -> Iterator[int]:
        for i in range(start, start + 50):
            if i == fail_at:
                raise CorruptVideo(f"broken at {i}")
            yield i

    got = list(prefetched_all([source(0), source(100)], depth=4))
    assert sorted(got) == [(0, i) for i in range(50)] + [(1, i) for i in range(100, 150)]
    assert [i for k, i in got if k == 1] == list(range(100, 150))  # each source in its order
    with pytest.raises(CorruptVideo, match="broken at 120"):
        list(prefetched_all([source(0), source(100, fail_at=120)], depth=4))
    before = threading.active_count()
    with closing(prefetched_all([source(0), source(100)], depth=2)) as items:
        next(items)
    assert threading.active_count() == before  # both producers were stopped and joined


class _Frame:
    """A decoded frame as the band sampler sees it: a time, and a grey picture of one level."""

    def __init__(self, time_s: float) -> None:
        self.time_s = time_s

    def render(self, width: int | None = None, fmt: str = "rgb24") -> np.ndarray:
        return np.full((90, 160), round(self.time_s * 100), dtype=np.uint8)


def test_band_sampler_keeps_the_first_frame_of_each_half_second_offered_in_any_order() -> None:
    # two stretches, each in order, interleaved: the second one's frames may come first
    sampler = BandSampler()
    for t in (0.6, 0.0, 0.64, 0.04, 0.52, 0.08, 0.56, 1.0):
        sampler.offer(_Frame(t))  # type: ignore[arg-type]
    assert sampler.times_s == [0.0, 0.52, 1.0]
    levels = [int(np.asarray(sample.band).mean().round()) for sample in sampler.samples(1.04)]
    assert levels == [0, 52, 100]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["motion", "motion_gop2s", "motion_capped"])
def test_stretches_side_by_side_measure_what_one_decoder_measures(
    shot_videos: dict[str, MadeVideo], name: str
) -> None:
    path: Path = shot_videos[name].path
    index = read_packet_index(path)
    assert index is not None
    renders = {5: 64, index.frame_count - 3: 64, 10**6: 64}  # one in each stretch, one past the end
    bands_one, bands_split = BandSampler(), BandSampler()
    with open_video(path) as video:
        one = analyze(video, renders=renders, tap=bands_one.offer)
    with open_video(path) as video:
        split = analyze(video, renders=renders, index=index, decoders=2, tap=bands_split.offer)
    assert "2 stretches decoded side by side" in split.scores.scan.reason
    for column in ("times_s", "content", "hist", "layout", "lagged", "sharpness", "keyframes_s"):
        ours, theirs = getattr(split.scores, column), getattr(one.scores, column)
        assert np.array_equal(ours, theirs, equal_nan=True), column
    assert not np.isnan(split.scores.content).any()
    assert sorted(split.renders) == sorted(one.renders)
    for i, image in one.renders.items():
        assert np.array_equal(split.renders[i], image), i
    # the subtitle band is sampled from the same frames (each stretch shows its own to the sampler)
    assert bands_split.times_s == bands_one.times_s
    assert bands_split.jpegs == bands_one.jpegs
