"""Speech text: what was said in a time span, simplified Chinese with sensible punctuation, readable cues."""

from __future__ import annotations

import itertools

import pytest

from steps import Segment, Word
from steps._asr import subtitle_cues
from steps._asr.base import RawSegment, build_segments
from steps._asr.text import normalize_text, normalize_words, to_simplified
from steps._speech import speech_between, transcript_text


def _seg(*words: tuple[float, float, str]) -> Segment:
    return Segment(
        start_s=words[0][0],
        end_s=words[-1][1],
        text="".join(t for _, _, t in words).strip(),
        words=[Word(start_s=a, end_s=b, text=t) for a, b, t in words],
    )


ZH = [
    _seg(
        (0.2, 0.6, "全新"),
        (0.6, 1.0, "保温杯，"),
        (1.1, 1.9, "二十四"),
        (1.9, 2.4, "小时"),
        (2.4, 2.9, "保冷。"),
    ),
    _seg((4.0, 4.5, "今天"), (4.5, 5.0, "下单"), (5.0, 5.4, "包邮")),
]


def test_a_word_belongs_to_the_span_holding_its_midpoint() -> None:
    assert speech_between(ZH, 0.0, 1.5, "zh") == "全新保温杯，"  # 二十四: 1.1–1.9, midpoint 1.5
    assert speech_between(ZH, 1.5, 4.6, "zh") == "二十四小时保冷。今天"
    assert speech_between(ZH, 4.6, 10.0, "zh") == "下单包邮"
    assert speech_between(ZH, 3.0, 3.9, "zh") == ""


def test_shots_share_out_every_word_once() -> None:
    whole = transcript_text(ZH, "zh")
    assert whole == "全新保温杯，二十四小时保冷。今天下单包邮"
    for cuts in itertools.combinations([0.5, 1.2, 2.0, 3.3, 4.7, 5.1], 3):
        bounds = (0.0, *cuts, 6.0)
        parts = [speech_between(ZH, a, b, "zh") for a, b in itertools.pairwise(bounds)]
        assert "".join(parts).replace("，", "") == whole.replace("，", ""), cuts


def test_segments_join_with_a_comma_in_chinese_and_a_space_in_english() -> None:
    two = [_seg((0.0, 1.0, "快来看")), _seg((2.0, 3.0, "新品"))]
    assert transcript_text(two, "zh") == "快来看，新品"
    english = [
        _seg((0.0, 0.5, "Running"), (0.5, 1.0, " late?")),
        _seg((2.0, 2.4, " Order"), (2.4, 3.0, " now.")),
    ]
    assert transcript_text(english, "en") == "Running late? Order now."
    assert speech_between(english, 0.0, 0.75, "en") == "Running"


def test_segments_without_words_are_spread_by_characters() -> None:
    """Records from engines (or versions) without word timings still split between shots."""
    seg = Segment(start_s=0.0, end_s=4.0, text="续航三十小时")
    assert speech_between([seg], 0.0, 2.0, "zh") == "续航三"
    assert speech_between([seg], 2.0, 4.0, "zh") == "十小时"
    en = Segment(start_s=0.0, end_s=2.0, text="free shipping today")
    assert speech_between([en], 0.0, 1.0, "en") + " " + speech_between([en], 1.0, 2.0, "en") == en.text


def test_traditional_becomes_simplified_with_full_width_punctuation() -> None:
    assert to_simplified("一二線城市雖然也處於調整中") == "一二线城市虽然也处于调整中"
    assert normalize_text("他說「好」,我們走吧!") == "他说“好”，我们走吧！"
    assert normalize_text("好 謝謝") == "好，谢谢"  # a pause between two clauses
    assert normalize_text("用 iPhone 拍的 4K 视频") == "用 iPhone 拍的 4K 视频"  # spaces next to Latin stay
    assert normalize_text("价格是 3.5 元") == "价格是 3.5 元"  # a decimal point is not a full stop


def test_word_times_survive_the_conversion() -> None:
    words = [
        Word(start_s=0.0, end_s=0.4, text="好"),
        Word(start_s=0.5, end_s=0.9, text=" 謝謝"),
        Word(start_s=1.0, end_s=1.6, text="一二線"),
        Word(start_s=1.6, end_s=2.0, text="城市,"),
        Word(start_s=2.0, end_s=2.4, text="雖然"),
    ]
    out = normalize_words(words)
    assert [w.text for w in out] == ["好，", "谢谢", "一二线", "城市，", "虽然"]
    assert [(w.start_s, w.end_s) for w in out] == [(w.start_s, w.end_s) for w in words]


def test_engine_output_is_cleaned_into_segments() -> None:
    raw = [
        RawSegment(5.0, 7.0, "♪♪", [(5.0, 7.0, "♪♪")]),  # a music symbol is not speech
        RawSegment(0.0, 2.0, "一二線城市", [(0.1, 0.9, "一二線"), (0.9, 2.5, "城市")]),
        RawSegment(-0.5, 0.0, "x"),
    ]
    segments = build_segments(raw, duration_s=2.2, language="zh")
    assert len(segments) == 1
    (seg,) = segments
    assert (seg.start_s, seg.end_s, seg.text) == (0.0, 2.0, "一二线城市")
    assert [(w.start_s, w.end_s, w.text) for w in seg.words] == [(0.1, 0.9, "一二线"), (0.9, 2.0, "城市")]


def test_long_segments_become_readable_cues() -> None:
    clauses = [
        "今天我们来聊一聊新品",
        "这款保温杯的三个亮点，",
        "第一是二十四小时保冷，",
        "第二是一键开盖，",
        "第三是很轻。",
    ]
    words, t = [], 0.0
    for clause in clauses:
        for ch in clause:
            words.append((t, t + 0.2, ch))
            t += 0.2
        t += 0.5 if clause == clauses[0] else 0.0  # a pause after the first clause, no comma there
    seg = _seg(*words)
    cues = subtitle_cues([seg], "zh")
    assert len(cues) > 1
    assert all(len(c.text) <= 18 and c.end_s - c.start_s <= 6.0 for c in cues)
    assert [c.text for c in cues] == [  # at the pause, then at commas (dropped at a line's end)
        "今天我们来聊一聊新品",
        "这款保温杯的三个亮点",
        "第一是二十四小时保冷，第二是一键开盖",
        "第三是很轻。",
    ]
    assert "".join(c.text for c in cues).replace("，", "") == seg.text.replace("，", "")
    assert all(seg.start_s <= c.start_s < c.end_s <= seg.end_s for c in cues)
    assert [c.start_s for c in cues] == sorted(c.start_s for c in cues)


def test_short_segments_are_one_cue_each() -> None:
    assert subtitle_cues(ZH, "zh") == [Segment(start_s=s.start_s, end_s=s.end_s, text=s.text) for s in ZH]


@pytest.mark.parametrize("language", ["en", None])
def test_english_cues_break_at_sentences(language: str | None) -> None:
    text = (
        "Meet the new Lumen bottle. It keeps your drinks cold for twenty four hours and hot for twelve. "
        "The lid is leak proof, so it goes in your bag."
    )
    words, t = [], 0.0
    for i, token in enumerate(text.split(" ")):
        words.append((t, t + 0.3, token if i == 0 else " " + token))
        t += 0.3
    cues = subtitle_cues([_seg(*words)], language)
    assert all(len(c.text) <= 84 and c.end_s - c.start_s <= 6.0 for c in cues)
    assert cues[0].text == "Meet the new Lumen bottle."
    assert " ".join(c.text for c in cues) == text
