"""What the OCR step keeps of the recogniser's output, without a model: junk filtered, kinds,
fragments of one line joined, text staying on screen counted once; and the visual hook metric."""

from __future__ import annotations

import numpy as np
import pytest

from steps import ProbeRecord, ScreenTextLine, ScreenTextRecord, Shot, ShotsRecord
from steps._metrics import compute_metrics, hook_overlay_text
from steps._ocr import RawLine, clean_lines, distinct_lines, line_kind, same_text
from steps._ocr.lines import merge_fragments
from steps._ocr.track import Glyphs, _bright, _Cues, _same_glyphs, _unchanged

W, H = 720, 1280


def _raw(text: str, left: float, top: float, right: float, bottom: float, score: float = 0.95) -> RawLine:
    return RawLine(text, (left, top, right, bottom), score)


def test_a_subtitle_is_an_ordinary_line_in_the_lower_band_and_anything_else_an_overlay() -> None:
    assert line_kind(0.85, 0.05) == "subtitle"
    assert line_kind(0.85, 0.12) == "overlay"  # a large line at the bottom is a headline (花字)
    assert line_kind(0.15, 0.05) == "overlay"
    assert line_kind(0.4, 0.1) == "overlay"
    # a sentence at the bottom is a subtitle though a little large (a boxed caption on a small picture)
    assert line_kind(0.9, 0.083, chars=30) == "subtitle"
    assert line_kind(0.9, 0.083, chars=4) == "overlay"  # short and large: a headline
    assert line_kind(0.9, 0.12, chars=30) == "overlay"


def test_clean_lines_keeps_text_and_drops_junk_with_boxes_as_fractions() -> None:
    raw = [
        _raw("限时优惠", 216, 150, 504, 230),
        _raw("今天给大家推荐一款咖啡机", 144, 1060, 576, 1096),
        _raw("奖", 10, 10, 40, 40, score=0.6),  # texture read as a character: low confidence
        _raw("ab", 100, 600, 108, 606),  # 6 px tall on a 720 px short side
        _raw("l", 300, 700, 330, 760),  # a lone Latin letter
        _raw("、。", 300, 800, 360, 840),  # punctuation only
    ]
    lines = clean_lines(raw, W, H)
    assert [(x.text, x.kind) for x in lines] == [
        ("限时优惠", "overlay"),
        ("今天给大家推荐一款咖啡机", "subtitle"),
    ]
    assert lines[0].box == [0.3, pytest.approx(0.1172), 0.7, pytest.approx(0.1797)]
    assert lines[1].confidence == 0.95


def test_lines_read_on_a_band_are_placed_in_the_whole_picture() -> None:
    (line,) = clean_lines([_raw("第一杯现磨", 260, 40, 460, 80)], W, 400, y_offset=800, full_height=H)
    assert line.box[1] == pytest.approx(840 / H, abs=1e-4) and line.box[3] == pytest.approx(880 / H, abs=1e-4)
    assert line.kind == "subtitle"


def test_fragments_of_one_line_are_joined_once() -> None:
    # the detector boxed "NEW ARRIVAL 2026" in two overlapping pieces, both holding the "L"
    joined = merge_fragments([_raw("L2026", 760, 80, 951, 139), _raw("NEW ARRIVAL", 332, 81, 773, 137)])
    assert [x.text for x in joined] == ["NEW ARRIVAL 2026"]
    assert joined[0].box == (332, 80, 951, 139)
    chinese = merge_fragments([_raw("全国包邮", 10, 10, 100, 40), _raw("SALE 50%", 110, 10, 200, 40)])
    assert [x.text for x in chinese] == ["全国包邮 SALE 50%"]
    # lines above each other, or far apart on one row, stay apart
    apart = merge_fragments([_raw("买一送一", 100, 100, 300, 140), _raw("包邮", 100, 150, 200, 190)])
    assert len(apart) == 2
    assert len(merge_fragments([_raw("左", 0, 0, 40, 40), _raw("右", 600, 0, 640, 40)])) == 2


def test_same_text_tolerates_a_misread_character_and_width() -> None:
    assert same_text("全国包邮 SALE 50%", "全国包邮SALE50％")
    assert same_text("今天给大家推荐一款咖啡机", "今天给大家推荐一款咖啡杌")
    assert not same_text("第一杯现磨", "第二杯半价")
    assert not same_text("", "买一送一")


def test_distinct_lines_keep_the_first_time_each_line_was_read() -> None:
    timed = [
        (3.0, "买一送一", "overlay"),
        (0.0, "限时优惠", "overlay"),
        (1.0, "限时优惠", "overlay"),  # still on screen
        (2.0, "限时优惠!", "overlay"),  # read slightly differently
        (2.0, "第一杯现磨", "subtitle"),
        (2.5, "  ", "subtitle"),
    ]
    assert [(x.time_s, x.text, x.kind) for x in distinct_lines(timed)] == [
        (0.0, "限时优惠", "overlay"),
        (2.0, "第一杯现磨", "subtitle"),
        (3.0, "买一送一", "overlay"),
    ]
    assert distinct_lines([]) == []


def _line(text: str, kind: str) -> ScreenTextLine:
    return ScreenTextLine(text=text, box=[0.1, 0.1, 0.9, 0.2], confidence=0.9, kind=kind)  # type: ignore[arg-type]


SHOTS = ShotsRecord(
    detector="hybrid",
    shots=[
        Shot(index=1, start_s=0.0, end_s=1.5, keyframe="k1.jpg"),
        Shot(index=2, start_s=1.5, end_s=4.0, keyframe="k2.jpg"),
        Shot(index=3, start_s=4.0, end_s=6.0, keyframe="k3.jpg"),
    ],
)


def test_the_visual_hook_is_the_overlay_text_of_the_shots_starting_in_the_first_3_seconds() -> None:
    text = ScreenTextRecord(
        engine="rapidocr",
        model="PP-OCRv4",
        shots=[
            [_line("限时优惠", "overlay"), _line("今天推荐", "subtitle")],
            [_line("买一送一", "overlay"), _line("限时优惠", "overlay")],
            [_line("全国包邮", "overlay")],  # starts at 4 s: not the hook
        ],
    )
    assert hook_overlay_text(SHOTS, text) == "限时优惠 / 买一送一"
    subtitles_only = text.model_copy(update={"shots": [[_line("今天推荐", "subtitle")], [], []]})
    assert hook_overlay_text(SHOTS, subtitles_only) is None
    assert hook_overlay_text(SHOTS, None) is None
    stale = text.model_copy(update={"shots": text.shots[:2]})  # read from other shots
    assert hook_overlay_text(SHOTS, stale) is None
    probe = ProbeRecord(duration_s=6.0, width=W, height=H, fps=25.0, codec="h264", has_audio=False)
    assert compute_metrics(probe, SHOTS, None, None, text).hook_overlay_text == "限时优惠 / 买一送一"
    assert compute_metrics(probe, SHOTS, None).hook_overlay_text is None


def test_cues_merge_repeated_samples_and_bridge_one_missed_sample() -> None:
    cues = _Cues()
    samples = [(0.0, "今天推荐"), (0.5, "今天推荐"), (1.0, ""), (1.5, "今天推荐"), (2.0, ""), (2.5, "")]
    samples += [(3.0, "第一杯"), (3.5, "第二杯"), (4.0, "")]
    for t, text in samples:
        cues.add(t, text)
    cues.close(4.2)
    assert [(c.start_s, c.end_s, c.text) for c in cues.cues] == [
        (0.0, 2.0, "今天推荐"),  # one sample without it (1.0 s) does not split it; two end it
        (3.0, 3.5, "第一杯"),
        (3.5, 4.0, "第二杯"),
    ]
    last = _Cues()
    last.add(0.0, "限时")
    last.close(0.3)  # the video ends before the next sample
    assert [(c.start_s, c.end_s) for c in last.cues] == [(0.0, 0.3)]


def _band_with(strokes: list[tuple[int, int, int, int]], seed: int) -> np.ndarray:
    """A 100×400 grey band: moving dark noise behind white strokes (rectangles) on a dark box."""
    rng = np.random.default_rng(seed)
    band = rng.integers(0, 150, size=(100, 400), dtype=np.uint8)
    band[30:70, 50:350] = 20
    for x0, y0, x1, y1 in strokes:
        band[y0:y1, x0:x1] = 255
    return band


def test_unchanged_text_over_a_moving_background_is_not_read_again() -> None:
    box = [(50 / 400, 0.3, 350 / 400, 0.7)]
    text_a = [(60 + 30 * i, 35, 70 + 30 * i, 65) for i in range(9)]
    text_b = [(60 + 30 * i, 35 + (i % 2) * 15, 80 + 30 * i, 50 + (i % 2) * 15) for i in range(9)]
    first = Glyphs(box, _bright(_band_with(text_a, 1)))
    assert _same_glyphs(first, Glyphs(box, _bright(_band_with(text_a, 2))))  # only the noise moved
    shifted = [(x0 + 1, y0, x1 + 1, y1) for x0, y0, x1, y1 in text_a]  # re-encoded a pixel off
    assert _same_glyphs(first, Glyphs(box, _bright(_band_with(shifted, 3))))
    assert not _same_glyphs(first, Glyphs(box, _bright(_band_with(text_b, 2))))  # new text, same box
    moved = [(0.1, 0.3, 0.8, 0.7)]
    assert not _same_glyphs(first, Glyphs(moved, _bright(_band_with(text_a, 2))))
    streaked = _band_with(text_a, 4)
    streaked[45:48, 40:360] = 255  # something bright moves across behind the text
    assert _same_glyphs(first, Glyphs(box, _bright(streaked)))
    flash = _band_with(text_a, 5)
    flash[25:75, 40:360] = 255  # a white flash: the strokes are "there", and everything else too
    assert not _same_glyphs(first, Glyphs(box, _bright(flash)))
    assert not _same_glyphs(None, first)
    assert not _same_glyphs(Glyphs([], first.bright), Glyphs([], first.bright))


def test_a_new_line_in_the_same_place_over_a_still_background_is_a_change() -> None:
    rng = np.random.default_rng(0)
    still = rng.integers(60, 120, size=(40, 320)).astype(np.int16)
    line_a, line_b = still.copy(), still.copy()
    line_a[15:25, 100:220:4] = 250  # "text": bright strokes
    line_b[15:25, 102:222:6] = 250
    noise = np.clip(line_a + rng.integers(-8, 9, size=still.shape), 0, 255).astype(np.int16)
    assert _unchanged(line_a, noise)  # compression noise
    assert not _unchanged(line_a, line_b)  # another line where the last one was
    assert not _unchanged(line_a, line_a[:, :300])
