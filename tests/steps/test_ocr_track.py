"""The subtitle track read from band samples, with the real text reader: lines drawn with the CJK
font on a band whose background moves on every sample (so no sample is skipped as unchanged)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from steps._ocr import RawLine, read_subtitle_track, text_reader
from steps._ocr.bands import BAND_BOTTOM, BAND_TOP, SAMPLE_S, BandSamples, decode_bands
from steps._ocr.reader import SPINNING
from tests.error_rate import cer
from tests.test_examples import EXAMPLES, make_media
from tests.text_media import font_file

pytestmark = pytest.mark.slow

W, H = 720, 1280  # the picture the band is cut from
BAND_H = round(H * BAND_BOTTOM) - round(H * BAND_TOP)
FONT_PX = 36  # 0.05 of the short side, as the generated subtitles
FIRST, SECOND = "今天给大家推荐一款咖啡机", "下单立减20元"


@cache
def _font() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_file(), FONT_PX)


def _band(seed: int, lines: Sequence[tuple[str, float]], ring: bool = False, grid: bool = False) -> bytes:
    """A JPEG band: dark noise and bright thin streaks that move on every sample, and ``lines``
    (text, centre as a fraction of the band's height) in white with a black outline; ``ring``:
    a thin white ring that stays put (a graphic, not text)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 150, size=(BAND_H, W), dtype=np.uint8)
    for _ in range(12):  # bright streaks, elsewhere on every sample
        y, x = int(rng.integers(0, BAND_H - 4)), int(rng.integers(0, W - 200))
        pixels[y : y + 3, x : x + int(rng.integers(40, 200))] = 240
    if grid:  # thin bright lines that stay put all over the band (a still textured background)
        pixels[::12, ::4] = 230
    img = Image.fromarray(pixels)
    draw = ImageDraw.Draw(img)
    if ring:
        draw.ellipse((500, 300, 600, 400), outline=255, width=3)
    for text, y in lines:
        draw.text(
            (W / 2, y * BAND_H), text, font=_font(), fill=255, anchor="mm", stroke_width=3, stroke_fill=0
        )
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _samples(
    seconds: float, shown: Sequence[tuple[str, float, float, float]], ring: bool = False, grid: bool = False
) -> BandSamples:
    """Samples every :data:`SAMPLE_S` for ``seconds``; ``shown``: (text, y, from, until)."""
    times = [round(k * SAMPLE_S, 3) for k in range(round(seconds / SAMPLE_S))]
    jpegs = [
        _band(k, [(text, y) for text, y, t0, t1 in shown if t0 <= t < t1], ring, grid)
        for k, t in enumerate(times)
    ]
    return BandSamples(times, jpegs, (W, H), seconds)


def _cues(samples: BandSamples) -> list[tuple[float, float, str]]:
    track = read_subtitle_track(samples, text_reader())
    return [(c.start_s, c.end_s, c.text) for c in track.cues]


def test_a_line_is_dated_from_the_first_sample_it_shows_on() -> None:
    # not yet static on its first sample: found on the next, and dated back
    cues = _cues(_samples(5.0, [(FIRST, 0.6, 1.0, 3.0)]))
    assert len(cues) == 1, cues
    start, end, text = cues[0]
    assert (start, end) == (1.0, 3.0)
    assert cer(FIRST, text) <= 0.1, text


def test_a_second_line_under_a_staying_one_is_read_when_it_appears() -> None:
    cues = _cues(_samples(4.0, [(FIRST, 0.3, 0.0, 4.0), (SECOND, 0.7, 2.0, 4.0)]))
    assert [(start, end) for start, end, _ in cues] == [(0.0, 2.0), (2.0, 4.0)], cues
    assert cer(FIRST, cues[0][2]) <= 0.1
    assert cer(f"{FIRST} {SECOND}", cues[1][2]) <= 0.1, cues[1][2]


def test_a_changed_line_in_the_same_place_is_a_new_cue() -> None:
    cues = _cues(_samples(4.0, [(FIRST, 0.6, 0.0, 2.0), (SECOND, 0.6, 2.0, 4.0)]))
    assert [(start, end) for start, end, _ in cues] == [(0.0, 2.0), (2.0, 4.0)], cues
    assert cer(FIRST, cues[0][2]) <= 0.1 and cer(SECOND, cues[1][2]) <= 0.1, cues


def test_a_moving_background_without_text_gives_no_cue_and_reads_nothing() -> None:
    samples = _samples(5.0, [])
    track = read_subtitle_track(samples, text_reader())
    assert track.cues == []
    assert (track.read, track.skipped, track.samples) == (0, len(samples), len(samples))


class _Counting:
    """The text reader, counting the detector's calls."""

    def __init__(self) -> None:
        self.reader = text_reader()
        self.detections = 0

    def detect(self, image: np.ndarray, scale: float = 1.0) -> np.ndarray:
        self.detections += 1
        return self.reader.detect(image, scale)

    def recognize(self, image: np.ndarray, quads: np.ndarray) -> list[RawLine]:
        return self.reader.recognize(image, quads)


def test_a_graphic_that_stays_put_is_not_looked_at_again_and_again() -> None:
    # the detector may box it (a ring reads as "O", junk) or not; either way it is remembered
    reader = _Counting()
    samples = _samples(5.0, [], ring=True)
    track = read_subtitle_track(samples, reader)  # type: ignore[arg-type]
    assert track.cues == []
    assert reader.detections <= len(samples) // 3, reader.detections


def test_the_reader_s_threads_sleep_while_they_wait() -> None:
    # spinning threads burn the cores that a batch's other steps share (bench/ocr.py)
    ocr = text_reader()._ocr
    for model in (ocr.text_det.infer, ocr.text_rec.session):
        assert model.session.get_session_options().get_session_config_entry(SPINNING) == "0"


CAPTIONED = [clip for clip in make_media.CLIPS if any(shot.line for shot in clip.shots)]


@pytest.mark.parametrize("clip", CAPTIONED, ids=lambda clip: clip.name)
def test_each_caption_of_the_example_clips_is_one_cue(clip: Any) -> None:
    # 426×240: boxed 15 px captions, taller than "ordinary" once detected, found on short strips
    samples = decode_bands(EXAMPLES / "media" / clip.name)
    cues = read_subtitle_track(samples, text_reader()).cues
    lines = [shot.line for shot in clip.shots if shot.line]
    assert len(cues) == len(lines), [c.text for c in cues]
    for line, cue in zip(lines, cues, strict=True):
        assert cer(line, cue.text) <= 0.1, (line, cue.text)
    assert [c.start_s for c in cues] == sorted(c.start_s for c in cues)


def test_over_a_textured_background_without_text_every_other_sample_is_glanced_at() -> None:
    reader = _Counting()
    samples = _samples(5.0, [], grid=True)
    track = read_subtitle_track(samples, reader)  # type: ignore[arg-type]
    assert track.cues == []
    assert reader.detections <= len(samples) // 2, reader.detections


def test_a_line_appearing_over_a_textured_background_is_still_dated_from_its_first_sample() -> None:
    for start in (1.5, 2.0):  # on a sample glanced at, and on one skipped
        cues = _cues(_samples(4.0, [(FIRST, 0.6, start, 4.0)], grid=True))
        assert len(cues) == 1 and cues[0][0] == start, (start, cues)
        assert cer(FIRST, cues[0][2]) <= 0.1, cues
