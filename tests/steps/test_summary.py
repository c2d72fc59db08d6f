"""The batch summary: the rankings and comparisons the code computes, and the prose a model writes
(through a local OpenAI-compatible server), each claim pointing at its videos."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from steps import DEFAULT_FIELDS, AiStatus, Metrics, Secret, Settings, VideoResult, brief_lines
from steps._ai.summary import compute_numbers
from steps._ai.summary_prose import build_summary
from steps._metrics import performance_metrics
from tests.llm_server import Answer, FakeLLM, images, is_summary, user_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "batch.json"
OK = AiStatus(state="ok")


def _video(
    video_id: str,
    name: str,
    performance: dict[str, float] | None = None,
    *,
    status: str = "ok",
    scene: str | None = None,
    **metrics: Any,
) -> VideoResult:
    return VideoResult(
        video_id=video_id,
        name=name,
        source=f"https://cdn.test/{video_id}.mp4",
        status=status,  # type: ignore[arg-type]
        metrics=Metrics(**metrics, **performance_metrics(performance)) if status == "ok" else None,
        analysis={"场景": scene, "人群": "上班族"} if scene else None,
        analysis_status=OK if scene else None,
        performance=performance,
    )


def _sample_batch() -> list[VideoResult]:
    """examples/batch.json as its run leaves it: two with ad numbers, one without, one broken."""
    batch = json.loads(EXAMPLES.read_text(encoding="utf-8"))
    lumen, stride, harbor, broken = batch["videos"]
    return [
        _video(
            "v1",
            lumen["name"],
            lumen["performance"],
            hook_text="Meet the new Lumen bottle",
            cuts_per_min=16.0,
        ),
        _video("v2", stride["name"], stride["performance"], cuts_per_min=8.0),
        _video("v3", harbor["name"], cuts_per_min=12.0),
        _video("v4", broken["name"], status="failed"),
    ]


def test_the_sample_batch_is_ranked_by_the_numbers_given() -> None:
    numbers = compute_numbers(_sample_batch(), DEFAULT_FIELDS)
    lumen, stride = "Lumen bottle — 15s spot", "Stride shoes — launch"
    assert numbers.analysed == 3
    by_metric = {r.metric: r for r in numbers.rankings}
    assert [(x.name, round(x.value, 4)) for x in by_metric["ctr"].ranked] == [
        (lumen, 0.028),
        (stride, 0.0192),
    ]
    assert [(x.name, round(x.value, 4)) for x in by_metric["cvr"].ranked] == [
        (lumen, 0.0652),
        (stride, 0.0344),
    ]
    assert [(x.name, round(x.value, 2)) for x in by_metric["cpa"].ranked] == [(lumen, 10.46), (stride, 33.57)]
    assert by_metric["cpa"].higher_is_better is False
    assert by_metric["ctr"].batch_value == pytest.approx(
        (1350 + 610) / (48200 + 31750)
    )  # pooled, not averaged
    assert by_metric["cpa"].batch_value == pytest.approx((920.5 + 705.0) / (88 + 21))
    assert [v.name for v in numbers.strong] == [lumen] and [v.name for v in numbers.weak] == [stride]
    assert [v.name for v in numbers.without_performance] == ["Harbor Coffee (no sound)"]  # listed, not ranked
    traits = {t.label: (t.strong, t.rest) for t in numbers.traits}
    assert traits["开头 3 秒有口播"] == ("1/1 条", "0/1 条")
    assert traits["每分钟剪辑数"] == ("16.0 次", "8.0 次")


def test_strong_and_weak_thirds_and_what_the_strong_share() -> None:
    def perf(clicks: float, conversions: float) -> dict[str, float]:
        return {"impressions": 1000, "clicks": clicks, "spend": 100, "conversions": conversions}

    chars = {"speech_rate_unit": "chars/min"}
    videos = [
        _video(
            "a",
            "A",
            perf(50, 10),
            scene="生活场景",
            hook_text="开头",
            cuts_per_min=30.0,
            speech_rate=300.0,
            **chars,
        ),
        _video(
            "b",
            "B",
            perf(40, 8),
            scene="生活场景",
            hook_text="开头",
            cuts_per_min=26.0,
            speech_rate=280.0,
            **chars,
        ),
        _video("c", "C", perf(20, 2), scene="工作场景", cuts_per_min=10.0, speech_rate=200.0, **chars),
        _video("d", "D", perf(30, 3), scene="生活场景", cuts_per_min=12.0),
        _video("e", "E", perf(10, 1), scene="特殊场景", cuts_per_min=8.0),
        _video("f", "F", perf(35, 4), scene="工作场景", cuts_per_min=14.0),
    ]
    numbers = compute_numbers(videos, DEFAULT_FIELDS)
    assert [v.video_id for v in numbers.strong] == ["a", "b"]  # a third of six
    assert [v.video_id for v in numbers.weak] == ["e", "c"]  # weakest first
    traits = {t.label: (t.strong, t.rest) for t in numbers.traits}
    assert traits["开头 3 秒有口播"] == ("2/2 条", "0/4 条")
    assert traits["每分钟剪辑数"] == ("28.0 次", "11.0 次")
    assert traits["语速"] == ("290 字/分钟", "200 字/分钟")
    assert traits["场景"] == ("生活场景（2/2 条）", "生活场景（1/4 条）")  # a select field of the AI analysis


def test_a_batch_without_ad_numbers_still_has_a_summary() -> None:
    videos = [_video("a", "A", cuts_per_min=10.0), _video("b", "B"), _video("c", "C", status="failed")]
    numbers = compute_numbers(videos, DEFAULT_FIELDS)
    assert numbers.analysed == 2 and numbers.rankings == [] and numbers.strong == [] and numbers.traits == []
    assert [v.video_id for v in numbers.without_performance] == ["a", "b"]
    one = compute_numbers([_video("a", "A", {"impressions": 100, "clicks": 5})], DEFAULT_FIELDS)
    assert [r.metric for r in one.rankings] == ["ctr"] and one.strong == []  # one video: nothing to compare


PROSE = {
    "headline": "V1 的开头 3 秒直接点题，CTR 最高；V2 节奏偏慢。",
    "findings": [
        {"text": "表现好的 V1 开头 3 秒就有口播，每分钟剪辑 16 次。", "videos": ["V1"]},
        {"text": "V2 与 V3 开头没有口播。", "videos": ["V2", "v3", "V9"]},
    ],
    "suggestions": [
        {"text": "把 V2 的开头换成直接点出痛点的口播。", "videos": ["V2"]},
        {"text": "给 V3 补上口播。", "videos": ["V3"]},
        {"text": "保持 V1 的剪辑节奏。", "videos": ["V1"]},
        {"text": "多做几版。", "videos": []},
    ],
}


def _llm(settings: Settings, fake: FakeLLM) -> Settings:
    return dataclasses.replace(
        settings, llm_base_url=fake.base_url, llm_api_key=Secret("sk-test"), llm_backoff_s=0.01
    )


def test_the_model_writes_the_prose_and_each_claim_points_at_its_videos(settings: Settings) -> None:
    videos = _sample_batch()
    with FakeLLM() as fake:
        fake.script(Answer(json.dumps(PROSE, ensure_ascii=False), 1500, 300))
        summary = build_summary(videos, DEFAULT_FIELDS, _llm(settings, fake))
    (body,) = fake.requests
    assert is_summary(body) and images(body) == []
    text = user_text(body)
    assert "点击率 CTR（越高越好，整批 2.45%）：V1 2.80% > V2 1.92%" in text  # the code's numbers, given
    assert "转化成本 CPA（越低越好，整批 14.91）：V1 10.46 > V2 33.57" in text
    assert "没有投放数据：V3" in text and "V4" not in text  # the broken video is not in the summary
    assert "V1《Lumen bottle — 15s spot》；点击率 CTR 2.80%" in text
    prose = summary.prose
    assert prose is not None and summary.status.state == "ok"
    assert (
        prose.headline
        == "《Lumen bottle — 15s spot》的开头 3 秒直接点题，CTR 最高；《Stride shoes — launch》节奏偏慢。"
    )
    assert [c.video_ids for c in prose.findings] == [["v1"], ["v2", "v3"]]
    assert [c.video_ids for c in prose.suggestions] == [["v2"], ["v3"], ["v1"]]
    assert prose.suggestions[1].text == "给《Harbor Coffee (no sound)》补上口播。"
    assert summary.status.notes == [
        "findings 第 2 条引用了这一批没有的视频 V9，已去掉",
        "suggestions 第 4 条没有指明是哪些视频",
        "模型给了 4 条建议，只保留前 3 条",
    ]
    assert summary.usage is not None and (summary.usage.calls, summary.usage.prompt_tokens) == (1, 1500)
    lines = brief_lines(summary)
    assert lines[0] == prose.headline and lines[-1] == "建议 3：保持《Lumen bottle — 15s spot》的剪辑节奏。"
    assert "点击率 CTR 最好：Lumen bottle — 15s spot（2.80%）；最差：Stride shoes — launch（1.92%）" in lines


def test_too_few_suggestions_ask_for_one_repair(settings: Settings) -> None:
    short = {**PROSE, "suggestions": PROSE["suggestions"][:1]}
    with FakeLLM() as fake:
        fake.script(
            Answer(json.dumps(short, ensure_ascii=False)), Answer(json.dumps(PROSE, ensure_ascii=False))
        )
        summary = build_summary(_sample_batch(), DEFAULT_FIELDS, _llm(settings, fake))
    assert len(fake.requests) == 2 and "“suggestions” 应恰好 3 条，收到 1 条" in user_text(fake.requests[1])
    assert summary.prose is not None and len(summary.prose.suggestions) == 3
    assert summary.usage is not None and summary.usage.calls == 2


def test_without_an_endpoint_the_numbers_are_still_there(settings: Settings) -> None:
    summary = build_summary(_sample_batch(), DEFAULT_FIELDS, settings)
    assert summary.prose is None and summary.status.state == "not_configured" and summary.usage is None
    assert [r.metric for r in summary.numbers.rankings] == ["ctr", "cvr", "cpa"]
    assert brief_lines(summary)[-1] == "AI 总结：未配置"


def test_a_failing_model_costs_only_the_prose(settings: Settings) -> None:
    with FakeLLM() as fake:
        fake.script(Answer("抱歉，我没法总结。"))
        summary = build_summary(_sample_batch(), DEFAULT_FIELDS, _llm(settings, fake))
    assert summary.prose is None and summary.status.state == "failed"
    assert summary.status.message is not None and "不是合法的 JSON" in summary.status.message
    assert len(summary.numbers.rankings) == 3 and summary.usage is not None and summary.usage.calls == 2


def test_no_analysed_video_means_no_summary_call(settings: Settings) -> None:
    with FakeLLM() as fake:
        summary = build_summary([_video("a", "A", status="failed")], DEFAULT_FIELDS, _llm(settings, fake))
    assert fake.requests == [] and summary.status.state == "skipped"
