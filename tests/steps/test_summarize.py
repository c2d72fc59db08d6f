"""Summarize and Publish together: the batch summary and the AI cost reach results.json, the HTML report's
first section, the ``总结`` sheet and the progress (the final card); the AI columns follow the schema."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from steps import (
    AiStatus,
    AiUsage,
    AnalysisRecord,
    FieldSpec,
    Metrics,
    Secret,
    Settings,
    StepContext,
    VideoFolder,
    VideoResult,
    load_artifact,
    snapshot,
)
from steps._outputs import Counts, Results, write_html, write_xlsx
from steps.publish import handler as publish
from steps.summarize import handler as summarize
from tests.llm_server import Answer, FakeLLM, user_text
from tests.steps.test_publish import TASK, build_task

PROSE = {
    "headline": "V1 开头直接开箱，CTR 2.50%。",
    "findings": [{"text": "V1 开头 3 秒就有口播。", "videos": ["V1"]}],
    "suggestions": [
        {"text": "V2 补上投放数据再比较。", "videos": ["V2"]},
        {"text": "保留 V1 的开箱开头。", "videos": ["V1"]},
        {"text": "给 V2 加上口播。", "videos": ["V2"]},
    ],
}
VIDEO_USAGE = AiUsage(model="qwen-vl-max", calls=1, prompt_tokens=3000, completion_tokens=500, cost=0.0068)


def _task(settings: Settings):  # type: ignore[no-untyped-def]
    ws = build_task(settings)
    folder = VideoFolder.of(ws, "v-unbox")
    record = load_artifact(folder.path, AnalysisRecord)
    assert record is not None
    folder.save(record.model_copy(update={"ai_usage": VIDEO_USAGE, "ai_status": AiStatus(state="ok")}))
    return ws


def test_the_summary_and_the_cost_reach_every_output(settings: Settings) -> None:
    ws = _task(settings)
    with FakeLLM() as fake:
        fake.script(Answer(json.dumps(PROSE, ensure_ascii=False), prompt_tokens=1000, completion_tokens=250))
        llm = dataclasses.replace(settings, llm_base_url=fake.base_url, llm_api_key=Secret("sk-test"))
        assert summarize({"task_id": TASK}, StepContext(settings=llm)) == {"task_id": TASK, "status": "ok"}
    assert "V1《开箱视频 A》；点击率 CTR 2.50%" in user_text(fake.requests[0])
    assert json.loads((ws.progress_dir / "_task.json").read_text(encoding="utf-8"))["phase"] == "summarizing"
    publish({"task_id": TASK}, StepContext(settings=settings))

    results = Results.model_validate_json((ws.out / "results.json").read_text(encoding="utf-8"))
    assert results.summary is not None and results.summary.prose is not None
    assert results.summary.prose.headline == "《开箱视频 A》开头直接开箱，CTR 2.50%。"
    assert [c.video_ids for c in results.summary.prose.suggestions] == [["v-xss"], ["v-unbox"], ["v-xss"]]
    summary_usage = results.summary.usage
    assert summary_usage is not None and summary_usage.cost == 0.0026  # 1000 × 0.0016 + 250 × 0.004 per 1K
    total = results.analysis_usage
    assert total == AiUsage(
        model="qwen-vl-max", calls=2, prompt_tokens=4000, completion_tokens=750, cost=0.0094, currency="CNY"
    )  # the video's call and the summary's add up

    page = (ws.out / "report.html").read_text(encoding="utf-8")
    assert page.index('id="insights"') < page.index('id="summary"') < page.index('id="v-v-unbox"')
    insights = page.split('id="insights"', 1)[1].split("</section>", 1)[0]
    assert "《开箱视频 A》开头直接开箱" in insights and 'href="#v-v-unbox"' in insights
    assert "AI 费用约 ¥0.0094（2 次调用，4,750 tokens）" in insights

    wb = load_workbook(ws.out / "report.xlsx")
    assert wb.sheetnames[0] == "总结"
    cells = [c for row in wb["总结"].iter_rows(values_only=True) for c in row if c is not None]
    assert "《开箱视频 A》开头直接开箱，CTR 2.50%。" in cells
    assert any(str(c).startswith("3. 给《<script>") for c in cells)  # names as they are, claims numbered
    assert "点击率 CTR（越高越好）" in cells and "2.50%" in cells

    task = json.loads((ws.progress_dir / "_task.json").read_text(encoding="utf-8"))
    snap = snapshot(ws)
    assert snap.ai_cost == task["ai_cost"] == "AI 费用约 ¥0.0094（2 次调用，4,750 tokens）"
    assert snap.summary[0] == "《开箱视频 A》开头直接开箱，CTR 2.50%。"
    assert snap.summary[-1].startswith("建议 3：给《<script>")


def test_publish_without_a_summary_still_shows_the_computed_part(settings: Settings) -> None:
    ws = _task(settings)
    publish({"task_id": TASK}, StepContext(settings=settings))  # Summarize never ran (its Catch)
    results = Results.model_validate_json((ws.out / "results.json").read_text(encoding="utf-8"))
    assert results.summary is not None and results.summary.prose is None
    assert results.summary.status.state == "failed"
    assert [r.metric for r in results.summary.numbers.rankings] == ["ctr"]
    assert results.analysis_usage == VIDEO_USAGE.model_copy(update={"currency": "CNY"})
    page = (ws.out / "report.html").read_text(encoding="utf-8")
    assert "AI 总结：批次总结没有生成" in page


def _results(fields: list[FieldSpec], videos: list[VideoResult]) -> Results:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return Results(
        task_id="t",
        title="t",
        created_at=now,
        finished_at=now,
        counts=Counts(total=2, ok=2, failed=0),
        analysis_fields=fields,
        videos=videos,
    )


def test_the_ai_columns_follow_the_schema(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fields = [
        FieldSpec(name="评分", type="number"),
        FieldSpec(name="情绪", type="single_select", options=("积极", "中性", "消极")),
        FieldSpec(name="卖点", type="multi_select", options=("保冷", "颜值")),
    ]
    answered = VideoResult(
        video_id="a",
        name="A",
        source="a.mp4",
        status="ok",
        metrics=Metrics(),
        analysis={"情绪": "积极", "卖点": ["保冷", "颜值"], "评分": 8.5, "其他分析器": "x"},
        analysis_status=AiStatus(state="ok", notes=["情绪：已改为最接近的“积极”"]),
        analysis_usage=VIDEO_USAGE,
    )
    unconfigured = VideoResult(
        video_id="b",
        name="B",
        source="b.mp4",
        status="ok",
        metrics=Metrics(),
        analysis=dict.fromkeys(["评分", "情绪", "卖点"], "未配置"),
        analysis_status=AiStatus(state="not_configured", message="未配置 AI 模型"),
    )
    results = _results(fields, [answered, unconfigured])
    write_xlsx(results, tmp_path)
    sheet = load_workbook(tmp_path / "report.xlsx")["视频分析"]
    header = [c.value for c in sheet[1]]
    at = header.index("评分")
    assert header[at : at + 7] == [
        "评分",
        "情绪",
        "卖点",
        "其他分析器",
        "AI 状态",
        "AI 备注",
        "AI 费用（CNY）",
    ]
    row = {h: c.value for h, c in zip(header, sheet[2], strict=True)}
    assert (row["评分"], row["情绪"], row["卖点"], row["AI 状态"]) == (8.5, "积极", "保冷、颜值", "成功")
    assert row["AI 费用（CNY）"] == 0.0068 and row["AI 备注"] == "情绪：已改为最接近的“积极”"
    other = {h: c.value for h, c in zip(header, sheet[3], strict=True)}
    assert (other["评分"], other["AI 状态"], other["AI 备注"]) == ("未配置", "未配置", "未配置 AI 模型")
    # the single-select answer is a select column (beside 状态's own 成功/失败 select)
    lists = {str(v.sqref): v.formula1 for v in sheet.data_validations.dataValidation if v.type == "list"}
    column = get_column_letter(at + 2)  # 情绪, 1-based
    assert lists[f"{column}2:{column}3"] == '"积极,中性,消极"'
    assert '"成功,失败"' in lists.values()
    page = write_html(results, tmp_path).read_text(encoding="utf-8")
    assert "情绪：已改为最接近的“积极”" in page and "未配置 AI 模型" in page
