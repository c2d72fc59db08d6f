"""The example batch end to end with a model: real videos through the whole flow, the AI analysis and the
batch summary from a local OpenAI-compatible server — one answer mapped, one timed out, one video broken."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.llm_server import Answer, FakeLLM, Reply, Stall, images, is_summary, user_text
from video_insight.cli import main

ROOT = Path(__file__).resolve().parents[1]
LUMEN = {
    "人群": "通勤的上班族",
    "功能": "保冷保温",
    "痛点": "水很快变温",
    "场景": "工作场景",
    "概述": "开头展示瓶身，口播介绍新品并号召下单。",
    "分析": "开头 3 秒即点出新品，CTR 2.80%。",
}
STRIDE = {**LUMEN, "人群": "跑步爱好者", "场景": "户外运动场景"}  # not an option, and close to none
SUMMARY = {
    "headline": "V1 全面领先，V2 转化成本偏高。",
    "findings": [{"text": "V1 开头 3 秒就有口播。", "videos": ["V1"]}],
    "suggestions": [
        {"text": "V2 开头加上口播。", "videos": ["V2"]},
        {"text": "V3 补上投放数据。", "videos": ["V3"]},
        {"text": "沿用 V1 的节奏。", "videos": ["V1"]},
    ],
}


def model(body: dict[str, Any]) -> Reply:
    """The scripted model: the summary, and one answer per video (the silent one never answers)."""
    if is_summary(body):
        return Answer(json.dumps(SUMMARY, ensure_ascii=False), 1500, 300)
    text = user_text(body)
    if "Lumen bottle" in text:
        return Answer(json.dumps(LUMEN, ensure_ascii=False), 3000, 400)
    if "Stride shoes" in text:
        return Answer(json.dumps(STRIDE, ensure_ascii=False), 2000, 300)
    return Stall()


@pytest.mark.slow
def test_the_example_batch_with_a_model(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    out = tmp_path / "out"
    with FakeLLM(model) as fake:
        for name, value in {
            "VI_LLM_BASE_URL": fake.base_url,
            "VI_LLM_API_KEY": "sk-test",
            "VI_LLM_TIMEOUT_S": "1",
            "VI_LLM_RETRIES": "0",
        }.items():
            monkeypatch.setenv(name, value)
        args = ["--workspace", str(tmp_path / "ws"), "run", str(tmp_path / "examples" / "batch.json")]
        code = main([*args, "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    assert len(fake.requests) == 4  # three videos and the summary; the broken video never got this far
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    sent = {
        v["name"]: next(b for b in fake.requests if f"名称：{v['name']}" in user_text(b))
        for v in results["videos"][:3]
    }
    for video in results["videos"][:3]:  # the contact sheet and up to four keyframes, as pictures
        assert len(images(sent[video["name"]])) == 1 + min(4, len(video["shots"]))
    assert "order today" in user_text(sent["Lumen bottle — 15s spot"]).lower()  # its transcript
    assert results["counts"] == {"total": 4, "ok": 3, "failed": 1}  # the model never fails a video
    lumen, stride, harbor, broken = results["videos"]
    assert lumen["analysis"] == LUMEN and lumen["analysis_status"]["state"] == "ok"
    assert lumen["analysis_usage"]["cost"] == pytest.approx(0.0064)
    assert stride["analysis"]["场景"] is None and stride["analysis"]["人群"] == "跑步爱好者"
    assert stride["analysis_status"]["notes"] == [
        "场景：模型回答“户外运动场景”不在选项中，也无法对应到任一选项，已留空"
    ]
    assert harbor["status"] == "ok" and harbor["analysis"] == dict.fromkeys(LUMEN, "分析失败")
    assert harbor["analysis_status"]["message"] == "模型在 1 秒内没有回答（共尝试 1 次）"
    assert broken["status"] == "failed" and broken["analysis"] is None

    summary = results["summary"]
    assert [r["ranked"][0]["name"] for r in summary["numbers"]["rankings"]] == [lumen["name"]] * 3
    assert [r["ranked"][-1]["name"] for r in summary["numbers"]["rankings"]] == [stride["name"]] * 3
    assert [v["name"] for v in summary["numbers"]["without_performance"]] == [harbor["name"]]
    assert summary["prose"]["headline"] == f"《{lumen['name']}》全面领先，《{stride['name']}》转化成本偏高。"
    assert [c["video_ids"] for c in summary["prose"]["suggestions"]] == [
        [stride["video_id"]],
        [harbor["video_id"]],
        [lumen["video_id"]],
    ]
    usage = results["analysis_usage"]
    assert (usage["calls"], usage["prompt_tokens"], usage["completion_tokens"]) == (3, 6500, 1000)
    assert usage["cost"] == pytest.approx(0.0064 + 0.0044 + 0.0036)

    wb = load_workbook(out / "report.xlsx")
    assert wb.sheetnames == ["总结", "视频分析", "分镜"]
    header = [c.value for c in wb["视频分析"][1]]
    assert header[header.index("人群") : header.index("人群") + 6] == list(LUMEN)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.index('id="insights"') < page.index('id="summary"')
    assert "批次总结 summary:" in stdout and f"建议 3：沿用《{lumen['name']}》的节奏。" in stdout
    assert "AI 费用约 ¥0.0144（3 次调用，7,500 tokens）" in stdout
