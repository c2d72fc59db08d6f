"""The per-video AI analysis against a local OpenAI-compatible server: what the model is sent, how
its answers are held to the field schema, and how failures stay inside the video's AI fields."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from structlog.testing import capture_logs

from steps import (
    AiStatus,
    AiUsage,
    AnalysisRecord,
    ProbeRecord,
    Secret,
    Segment,
    Settings,
    Shot,
    ShotsRecord,
    StepContext,
    TaskWorkspace,
    TranscriptRecord,
    VideoFolder,
)
from steps._slots import task_slot
from steps.analyze import handler
from tests.llm_server import Answer, Fail, FakeLLM, Stall, images, user_text
from tests.steps._ws import make_task

PERFORMANCE = {"impressions": 48200, "clicks": 1350, "spend": 920.5, "conversions": 88}
GOOD = {
    "人群": "通勤的上班族",
    "功能": "24 小时保冷",
    "痛点": "夏天通勤水很快变温",
    "场景": "工作场景",
    "概述": "开头用烈日下的通勤画面抓人，中段展示保冷测试，结尾号召下单。",
    "分析": "CTR 2.80% 较高，开头 3 秒直接点出痛点。",
}


def _jpeg(path: Path, color: str, size: tuple[int, int] = (1280, 720)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, "JPEG")


def _video(
    settings: Settings, video: Path, options: dict[str, Any] | None = None
) -> tuple[TaskWorkspace, str]:
    """A task with one video whose media steps have run: 6 shots with keyframes, a contact sheet, speech."""
    ws, (vid,) = make_task(settings, [video], options)
    manifest = json.loads(ws.manifest.read_text(encoding="utf-8"))
    manifest["videos"][0]["performance"] = PERFORMANCE
    manifest["videos"][0]["name"] = "Lumen 保温杯 15 秒"
    ws.manifest.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    folder = VideoFolder.of(ws, vid)
    folder.save(ProbeRecord(duration_s=12.0, width=720, height=1280, fps=30, codec="h264", has_audio=True))
    colors = ["red", "orange", "yellow", "green", "blue", "purple"]
    shots = []
    for i, color in enumerate(colors, start=1):
        _jpeg(folder.path / f"keyframes/shot_{i:03d}.jpg", color)
        shots.append(
            Shot(index=i, start_s=2.0 * (i - 1), end_s=2.0 * i, keyframe=f"keyframes/shot_{i:03d}.jpg")
        )
    _jpeg(folder.path / "contact_sheet.jpg", "gray", (2400, 1800))
    folder.save(ShotsRecord(detector="adaptive", shots=shots, contact_sheet="contact_sheet.jpg"))
    segments = [
        Segment(start_s=0.0, end_s=2.4, text="夏天通勤，水总是很快就变温了？"),
        Segment(start_s=2.6, end_s=6.0, text="Lumen 保温杯，二十四小时保冷。"),
    ]
    folder.save(
        TranscriptRecord(
            engine="funasr",
            model="SenseVoiceSmall",
            language="zh",
            text="".join(s.text for s in segments),
            segments=segments,
            speech_s=5.8,
            srt="transcript.srt",
            vtt="transcript.vtt",
        )
    )
    return ws, vid


def _llm(settings: Settings, fake: FakeLLM, **changes: Any) -> Settings:
    base = {"llm_base_url": fake.base_url, "llm_api_key": Secret("sk-test-key"), "llm_backoff_s": 0.01}
    return dataclasses.replace(settings, **{**base, **changes})


def _analyse(settings: Settings, ws: TaskWorkspace, vid: str) -> AnalysisRecord:
    out = handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings))
    assert out == {"video_id": vid, "status": "ok"}  # whatever the model did, the video is analysed
    record = VideoFolder.of(ws, vid).analysis()
    assert record is not None
    return record


def test_the_request_carries_the_pictures_transcript_metrics_and_ad_numbers(
    settings: Settings, silent_video
) -> None:
    ws, vid = _video(settings, silent_video.path)
    with FakeLLM() as fake:
        fake.script(Answer(json.dumps(GOOD, ensure_ascii=False)))
        record = _analyse(_llm(settings, fake), ws, vid)
    (body,) = fake.requests
    assert body["model"] == "qwen-vl-max"
    assert body["response_format"] == {"type": "json_object"}
    assert fake.headers[0]["authorization"] == "Bearer sk-test-key"
    pictures = images(body)
    assert len(pictures) == 1 + 4  # the contact sheet and four keyframes (the default)
    assert all(p.startswith("data:image/jpeg;base64,") for p in pictures)
    text = user_text(body)
    for shot in (1, 3, 4, 6):  # spread over the video, the first (the hook) and the last included
        assert f"镜头 {shot} 的关键帧" in text
    assert "[00:00.00–00:02.40] 夏天通勤，水总是很快就变温了？" in text  # the transcript, with times
    assert "点击率 CTR 2.8%" in text and "转化率 CVR 6.5%" in text and "转化成本 CPA 10.46" in text
    assert "每分钟剪辑数" in text and "语速" in text and "开头 3 秒口播：夏天通勤" in text
    assert "Lumen 保温杯 15 秒" in text and "竖屏" in text
    assert record.ai == GOOD
    assert record.ai_status == AiStatus(state="ok", notes=[], prompt="video.v1")


def test_pictures_are_downscaled_before_they_are_sent(settings: Settings, silent_video) -> None:
    ws, vid = _video(settings, silent_video.path)
    with FakeLLM() as fake:
        fake.script(Answer(json.dumps(GOOD, ensure_ascii=False)))
        _analyse(_llm(settings, fake), ws, vid)
    import base64
    import io

    sizes = []
    for url in images(fake.requests[0]):
        with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as img:
            sizes.append(img.size)
    assert sizes[0] == (1024, 768)  # the 2400×1800 contact sheet
    assert set(sizes[1:]) == {(512, 288)}  # the 1280×720 keyframes


def test_the_schema_drives_the_prompt_and_the_answer(settings: Settings, silent_video) -> None:
    fields = [
        {"name": "情绪", "type": "single_select", "options": ["积极", "中性", "消极"]},
        {
            "name": "卖点",
            "type": "multi_select",
            "options": ["保冷", "轻便", "颜值"],
            "description": "视频讲到的卖点",
        },
        {"name": "评分", "type": "number", "description": "创意打分，1 到 10"},
    ]
    ws, vid = _video(settings, silent_video.path, {"analysis": {"fields": fields, "keyframes": 2}})
    answer = {"情绪": "积极", "卖点": ["保冷", "颜值"], "评分": "8.5", "人群": "不该出现"}
    with FakeLLM() as fake:
        fake.script(Answer(json.dumps(answer, ensure_ascii=False)))
        record = _analyse(_llm(settings, fake), ws, vid)
    text = user_text(fake.requests[0])
    assert '- "情绪"（单选，只能从这些选项中选一个：积极 / 中性 / 消极）' in text
    assert (
        '- "卖点"（多选，从这些选项中选一个或多个，写成 JSON 数组：保冷 / 轻便 / 颜值）：视频讲到的卖点'
        in text
    )
    assert '- "评分"（数字，写一个数字）：创意打分，1 到 10' in text
    assert '"人群"' not in text and '"痛点"' not in text  # the default fields are replaced
    assert len(images(fake.requests[0])) == 1 + 2
    assert record.ai == {
        "情绪": "积极",
        "卖点": ["保冷", "颜值"],
        "评分": 8.5,
    }  # keys and types of the schema


def test_an_option_outside_the_list_is_mapped_to_the_closest_or_flagged(
    settings: Settings, silent_video
) -> None:
    fields = [
        {"name": "场景", "type": "single_select", "options": ["生活场景", "工作场景", "特殊场景"]},
        {"name": "卖点", "type": "multi_select", "options": ["保冷", "轻便"]},
    ]
    ws, vid = _video(settings, silent_video.path, {"analysis": {"fields": fields}})
    answer = {"场景": "工作场合", "卖点": ["保冷", "火星基地"]}
    with FakeLLM() as fake:
        fake.script(Answer(json.dumps(answer, ensure_ascii=False)))
        record = _analyse(_llm(settings, fake), ws, vid)
    assert record.ai == {"场景": "工作场景", "卖点": ["保冷"]}
    assert record.ai_status is not None and record.ai_status.notes == [
        "场景：模型回答“工作场合”不在选项中，已改为最接近的“工作场景”",
        "卖点：模型回答“火星基地”不在选项中，也无法对应到任一选项，已留空",
    ]


def test_malformed_json_is_repaired_once(settings: Settings, silent_video) -> None:
    ws, vid = _video(settings, silent_video.path)
    broken = '好的，分析如下：{"人群": "通勤的上班族", "功能": 保冷}'
    with FakeLLM() as fake:
        fake.script(
            Answer(broken, 900, 50),
            Answer("```json\n" + json.dumps(GOOD, ensure_ascii=False) + "\n```", 300, 120),
        )
        record = _analyse(_llm(settings, fake), ws, vid)
    _, repair = fake.requests
    assert images(repair) == []  # the repair request is text only
    assert broken in user_text(repair) and "不是合法的 JSON" in user_text(repair)
    assert '"痛点"（文本，不超过 15 字）' in user_text(repair)  # it restates the schema
    assert record.ai == GOOD
    assert record.ai_status is not None and record.ai_status.state == "ok"
    assert record.ai_status.notes[0].startswith("模型第一次的回答不合要求")
    assert record.ai_usage is not None
    assert (record.ai_usage.calls, record.ai_usage.prompt_tokens, record.ai_usage.completion_tokens) == (
        2,
        1200,
        170,
    )


def test_missing_fields_ask_for_a_repair_and_what_stays_missing_is_said(
    settings: Settings, silent_video
) -> None:
    ws, vid = _video(settings, silent_video.path)
    partial = {k: v for k, v in GOOD.items() if k != "痛点"}
    with FakeLLM() as fake:
        fake.script(Answer(json.dumps(partial, ensure_ascii=False)))
        record = _analyse(_llm(settings, fake), ws, vid)
    assert len(fake.requests) == 2 and "缺少字段“痛点”" in user_text(fake.requests[1])
    assert record.ai is not None and record.ai["痛点"] is None and record.ai["人群"] == "通勤的上班族"
    assert record.ai_status is not None and "修复后仍有问题：缺少字段“痛点”" in record.ai_status.notes


def test_a_text_over_its_cap_is_cut_and_said(settings: Settings, silent_video) -> None:
    ws, vid = _video(settings, silent_video.path)
    long_pain = "夏天通勤路上水很快变温而且杯子太重不方便携带"
    with FakeLLM() as fake:
        fake.script(Answer(json.dumps({**GOOD, "痛点": long_pain}, ensure_ascii=False)))
        record = _analyse(_llm(settings, fake), ws, vid)
    assert record.ai is not None and record.ai["痛点"] == long_pain[:15]
    assert record.ai_status is not None and record.ai_status.notes == ["痛点：回答超过 15 字，已截断"]


def test_an_answer_still_malformed_after_the_repair_fails_only_the_ai_fields(
    settings: Settings, silent_video
) -> None:
    ws, vid = _video(settings, silent_video.path)
    with FakeLLM() as fake:
        fake.script(Answer("我无法回答这个问题。"))
        record = _analyse(_llm(settings, fake), ws, vid)
    assert len(fake.requests) == 2
    assert record.ai == dict.fromkeys(GOOD, "分析失败")
    assert record.ai_status is not None and record.ai_status.state == "failed"
    assert record.ai_status.message is not None and record.ai_status.message.startswith(
        "模型的回答不是合法的 JSON"
    )
    assert record.metrics.ctr == pytest.approx(1350 / 48200, rel=1e-4)  # the metrics are all there
    assert (
        record.ai_usage is not None and record.ai_usage.calls == 2
    )  # what the failure cost is still counted


def test_429_then_success_is_retried(settings: Settings, silent_video) -> None:
    ws, vid = _video(settings, silent_video.path)
    with FakeLLM() as fake, capture_logs() as logs:
        fake.script(
            Fail(429, "Requests rate limit exceeded", {"Retry-After-Ms": "250"}),
            Fail(503, "overloaded"),
            Answer(json.dumps(GOOD, ensure_ascii=False)),
        )
        record = _analyse(_llm(settings, fake), ws, vid)
    assert len(fake.requests) == 3
    assert record.ai == GOOD
    assert record.ai_usage is not None and record.ai_usage.calls == 1  # only answered requests count
    waits = [e["delay_s"] for e in logs if e["event"] == "llm.retry"]
    assert waits[0] >= 0.25 and waits[1] < 0.25  # the pause the server asked for, then the backoff


def test_rate_limits_that_outlast_the_retries_fail_only_the_ai_fields(
    settings: Settings, silent_video
) -> None:
    ws, vid = _video(settings, silent_video.path)
    with FakeLLM() as fake:
        fake.script(Fail(429, "Requests rate limit exceeded"))
        record = _analyse(_llm(settings, fake, llm_retries=2), ws, vid)
    assert len(fake.requests) == 3
    assert record.ai_status is not None and record.ai_status.state == "failed"
    assert record.ai_status.message == "模型服务限流（HTTP 429）（共尝试 3 次）"
    assert record.ai_usage is None


def test_a_refused_key_is_not_retried(settings: Settings, silent_video) -> None:
    ws, vid = _video(settings, silent_video.path)
    with FakeLLM() as fake:
        fake.script(Fail(401, "Incorrect API key provided"))
        record = _analyse(_llm(settings, fake), ws, vid)
    assert len(fake.requests) == 1
    assert record.ai_status is not None and record.ai_status.message is not None
    assert record.ai_status.message.startswith("模型服务拒绝了 API Key（HTTP 401）")


def test_a_timeout_fails_only_the_ai_fields(settings: Settings, silent_video) -> None:
    ws, vid = _video(settings, silent_video.path)
    with FakeLLM() as fake:
        fake.script(Stall())
        record = _analyse(_llm(settings, fake, llm_timeout_s=0.5, llm_retries=1), ws, vid)
    assert len(fake.requests) == 2  # the timed-out request was tried again
    assert record.ai == dict.fromkeys(GOOD, "分析失败")
    assert (
        record.ai_status is not None and record.ai_status.message == "模型在 0.5 秒内没有回答（共尝试 2 次）"
    )
    assert record.metrics.shot_count == 6


def test_the_time_budget_bounds_the_whole_analysis(settings: Settings, silent_video) -> None:
    ws, vid = _video(settings, silent_video.path)
    with FakeLLM() as fake:
        fake.script(Stall())
        record = _analyse(_llm(settings, fake, llm_timeout_s=30, llm_retries=5, llm_budget_s=2.0), ws, vid)
    assert len(fake.requests) == 1  # the request got what was left of the budget, and no retry fitted
    assert record.ai_status == AiStatus(
        state="failed", message="模型在 2 秒内没有回答（共尝试 1 次）", prompt="video.v1"
    )


def test_without_an_endpoint_the_fields_say_not_configured(settings: Settings, silent_video) -> None:
    ws, vid = _video(settings, silent_video.path)
    record = _analyse(settings, ws, vid)
    assert record.ai == dict.fromkeys(GOOD, "未配置")
    assert record.ai_status is not None and record.ai_status.state == "not_configured"
    assert record.ai_status.message is not None and "VI_LLM_API_KEY" in record.ai_status.message
    assert record.ai_usage is None
    assert record.metrics.ctr is not None


def test_usage_and_cost_follow_the_price_per_thousand_tokens(settings: Settings, silent_video) -> None:
    ws, vid = _video(settings, silent_video.path)
    with FakeLLM() as fake:
        fake.script(Answer(json.dumps(GOOD, ensure_ascii=False), prompt_tokens=2500, completion_tokens=400))
        record = _analyse(_llm(settings, fake), ws, vid)  # qwen-vl-max: ¥0.0016 / ¥0.004 per 1K tokens
        priced = _analyse(
            _llm(
                settings,
                fake,
                llm_model="my-model",
                llm_price_input=0.01,
                llm_price_output=0.03,
                llm_currency="USD",
            ),
            ws,
            vid,
        )
        unpriced = _analyse(_llm(settings, fake, llm_model="my-model"), ws, vid)
    assert record.ai_usage == AiUsage(
        model="qwen-vl-max", calls=1, prompt_tokens=2500, completion_tokens=400, cost=0.0056, currency="CNY"
    )
    assert priced.ai_usage is not None and priced.ai_usage.cost == pytest.approx(0.037)
    assert priced.ai_usage.currency == "USD"
    assert unpriced.ai_usage is not None and unpriced.ai_usage.cost is None and unpriced.ai_usage.calls == 1


def test_a_task_never_has_more_model_calls_at_once_than_its_limit(settings: Settings, silent_video) -> None:
    ws, vid = _video(settings, silent_video.path)
    with FakeLLM() as fake, task_slot(ws, "llm", 1, wait_s=0):  # another video of the task holds the slot
        fake.script(Answer(json.dumps(GOOD, ensure_ascii=False)))
        record = _analyse(_llm(settings, fake, llm_concurrency=1, llm_budget_s=0.3), ws, vid)
    assert fake.requests == []  # it waited for a slot, not for the model
    assert record.ai_status is not None and record.ai_status.message is not None
    assert record.ai_status.message.startswith("等待模型调用名额超时")
