"""The analysis field schema a user controls, answers held to it, and the prompts it is rendered into."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from steps import DEFAULT_FIELDS, FieldSpec, Options, fields_from_bitable, validate_request
from steps._ai.answers import parse_json
from steps._ai.fields import check_answer, closest_option
from steps._ai.prompts import (
    REPAIR_PROMPT,
    SUMMARY_PROMPT,
    VIDEO_PROMPT,
    fields_block,
    json_example,
    load_prompt,
)
from steps._request import options_from_request
from steps.errors import InvalidRequest

SCENES = ("生活场景", "工作场景", "特殊场景")


def test_the_default_schema_is_the_teams_one() -> None:
    assert [(f.name, f.type) for f in DEFAULT_FIELDS] == [
        ("人群", "text"),
        ("功能", "text"),
        ("痛点", "text"),
        ("场景", "single_select"),
        ("概述", "text"),
        ("分析", "text"),
    ]
    by_name = {f.name: f for f in DEFAULT_FIELDS}
    assert by_name["痛点"].max_chars == 15
    assert by_name["场景"].options == SCENES
    assert Options().analysis.fields == list(DEFAULT_FIELDS)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"name": "场景", "type": "single_select"}, "a single_select field needs its options"),
        ({"name": "人群", "options": ["学生"]}, "only select fields have options"),
        ({"name": "评分", "type": "number", "max_chars": 3}, "max_chars applies to text fields only"),
        ({"name": "卖点", "type": "multi_select", "options": ["a", "a"]}, "an option is listed twice"),
        ({"name": "", "type": "text"}, "at least 1 character"),
        ({"name": "x", "type": "date"}, "Input should be 'text', 'single_select'"),
    ],
)
def test_a_field_that_cannot_work_is_refused(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FieldSpec.model_validate(spec)


def test_the_request_schema_and_the_options_check_the_fields() -> None:
    def request(fields: list[dict[str, object]]) -> dict[str, object]:
        return {
            "videos": [{"name": "a", "url": "https://x.test/a.mp4"}],
            "options": {"analysis": {"fields": fields}},
        }

    validate_request(request([{"name": "情绪", "type": "single_select", "options": ["积极", "消极"]}]))
    with pytest.raises(InvalidRequest, match=r"options\.analysis\.fields\[0\]"):
        validate_request(request([{"name": "情绪", "type": "single_select"}]))  # a select needs options
    with pytest.raises(InvalidRequest, match=r"options\.analysis\.fields\[0\]"):
        validate_request(request([{"name": "评分", "type": "number", "options": ["1"]}]))
    with pytest.raises(InvalidRequest, match=r"options\.analysis\.fields: \[\] should be non-empty"):
        validate_request(request([]))
    twice = request([{"name": "人群"}, {"name": "人群", "type": "text"}])
    validate_request(twice)  # JSON Schema cannot see it; the options model does
    with pytest.raises(InvalidRequest, match="analysis field names must be unique: 人群 listed twice"):
        options_from_request(twice)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("工作场景", "工作场景"),
        (" 工作场景 ", "工作场景"),
        ("工作场合", "工作场景"),  # similar to exactly one option
        ("生活", "生活场景"),  # contained in one option
        ("家庭生活场景", "生活场景"),  # contains one option
        ("场景", None),  # in all three: ambiguous
        ("火星基地", None),
        ("", None),
    ],
)
def test_the_closest_option(answer: str, expected: str | None) -> None:
    assert closest_option(answer, SCENES) == expected


def test_closest_option_ignores_width_and_case() -> None:
    assert closest_option("ＡＰＰ推广", ("App推广", "门店")) == "App推广"


def test_answers_are_coerced_to_the_field_types() -> None:
    fields = [
        FieldSpec(name="评分", type="number"),
        FieldSpec(name="卖点", type="multi_select", options=("保冷", "颜值", "轻便")),
        FieldSpec(name="场景", type="single_select", options=SCENES),
        FieldSpec(name="时长", type="text"),
    ]
    checked = check_answer(
        fields, {"评分": "8.5", "卖点": "保冷、颜值", "场景": ["工作场景"], "时长": 15, "别的": 1}
    )
    assert checked.ok and checked.notes == []
    assert checked.fields == {"评分": 8.5, "卖点": ["保冷", "颜值"], "场景": "工作场景", "时长": "15"}
    bad = check_answer(fields, {"评分": "很多", "卖点": {"a": 1}, "场景": 3})
    assert bad.problems == [
        "“评分”应为数字，收到 '很多'",
        "“卖点”应为字符串数组（从选项中选），收到 {'a': 1}",
        "“场景”应为字符串，收到 3",
        "缺少字段“时长”",
    ]
    assert check_answer(fields, ["not", "an", "object"]).problems == ["回答应为一个 JSON 对象，收到的是 list"]
    assert check_answer([FieldSpec(name="评分", type="number")], {"评分": float("nan")}).problems


def test_a_bitable_tables_columns_become_the_schema() -> None:
    columns = [
        {"field_name": "视频链接", "type": 15},  # a link column: not an analysis field
        {"field_name": "人群", "type": 1},
        {
            "field_name": "场景",
            "type": 3,
            "property": {"options": [{"name": "生活场景"}, {"name": "工作场景"}]},
        },
        {"field_name": "卖点", "type": 4, "property": {"options": [{"name": "保冷"}, {"name": "保冷"}]}},
        {"field_name": "评分", "type": 2, "description": "1 到 10 分"},
        {"field_name": "标签", "type": 4, "property": {"options": []}},  # nobody filled the list in yet
        {"field_name": "截图", "type": 17},
    ]
    assert fields_from_bitable(columns) == [
        FieldSpec(name="人群"),
        FieldSpec(name="场景", type="single_select", options=("生活场景", "工作场景")),
        FieldSpec(name="卖点", type="multi_select", options=("保冷",)),
        FieldSpec(name="评分", type="number", description="1 到 10 分"),
        FieldSpec(name="标签"),
    ]


def test_the_schema_is_rendered_into_the_prompt() -> None:
    block = fields_block(DEFAULT_FIELDS)
    assert block.splitlines()[2] == '- "痛点"（文本，不超过 15 字）：视频点出的用户痛点，一句短话。'
    assert '- "场景"（单选，只能从这些选项中选一个：生活场景 / 工作场景 / 特殊场景）' in block
    example = json_example(
        [FieldSpec(name="评分", type="number"), FieldSpec(name="卖点", type="multi_select", options=("a",))]
    )
    assert parse_json(example) == {"评分": 0, "卖点": ["（选项）"]}


def test_the_prompt_files_are_versioned_and_complete() -> None:
    video = load_prompt(VIDEO_PROMPT)
    assert video.name == "video.v1"
    text = video.text("user", fields="FIELDS", example="EXAMPLE", facts="FACTS")
    assert "FIELDS" in text and "EXAMPLE" in text and "FACTS" in text and "$" not in text
    assert "JSON" in video.text("system")  # DashScope's JSON mode needs the word in the messages
    with pytest.raises(KeyError, match="facts"):
        video.text("user", fields="F", example="E")  # a placeholder without a value is an error
    summary = load_prompt(SUMMARY_PROMPT).messages(count="3", numbers="N", videos="V")
    assert [m["role"] for m in summary] == ["system", "user"] and "批次总结" in summary[0]["content"]
    repair = load_prompt(REPAIR_PROMPT).messages(problems="P", requirements="R", answer="A")
    assert "JSON" in repair[0]["content"] and "P" in repair[1]["content"]


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        '```json\n{"a": 1}\n```',
        '好的，结果如下：\n{"a": 1}\n希望有帮助。',
    ],
)
def test_json_is_found_in_an_answer(text: str) -> None:
    assert parse_json(text) == {"a": 1}


def test_an_answer_without_json_says_so() -> None:
    with pytest.raises(ValueError, match="不是合法的 JSON"):
        parse_json("我不知道")


def test_the_facts_say_why_there_is_no_transcript() -> None:
    from steps import Metrics
    from steps._ai.video import VideoFacts, facts_text

    def said(**kw: object) -> str:
        return facts_text(VideoFacts(name="x", metrics=Metrics(), **kw)).split("口播文案（带时间）：\n")[1]  # type: ignore[arg-type]

    assert said(has_audio=False).startswith("（没有音轨）")
    assert said(has_audio=True, empty_reason="no_speech").startswith("（没有人声）")
    assert said(has_audio=True, empty_reason="unsupported_language").startswith(
        "（有人声，但这种语言无法转写）"
    )


def test_on_screen_text_goes_into_the_prompt_when_the_ocr_step_read_it() -> None:
    from steps import Metrics
    from steps._ai.video import ScreenText, VideoFacts, facts_text

    facts = VideoFacts(
        name="x", metrics=Metrics(), screen_text=(ScreenText(1.0, "夏日特惠"), ScreenText(4.5, "第二件半价"))
    )
    assert facts_text(facts).endswith(
        "画面文字（花字、字幕，按首次出现的时间）：\n[00:01.00] 夏日特惠\n[00:04.50] 第二件半价"
    )
    assert "画面文字" not in facts_text(VideoFacts(name="x", metrics=Metrics()))


def test_the_analyzer_reads_the_ocr_record_of_the_video_into_the_facts(tmp_path) -> None:
    import time

    from steps import Manifest, Metrics, ScreenText, ScreenTextRecord, TaskWorkspace, VideoEntry, VideoFolder
    from steps._ai.analyzer import _facts
    from steps._ai.video import facts_text
    from steps._analysis import AnalysisInput

    ws = TaskWorkspace(tmp_path, "t1")
    folder = VideoFolder(ws.make_video_dir("v1"), "v1")
    entry = VideoEntry(video_id="v1", name="x.mp4", path="/x.mp4")
    manifest = Manifest(task_id="t1", created_at=time.time(), options=Options(), videos=[entry])
    metrics = Metrics(hook_overlay_text="限时优惠 / 买一送一")
    inp = AnalysisInput(video=folder, entry=entry, options=manifest.options, metrics=metrics, workspace=ws)
    assert _facts(inp).screen_text == ()  # the OCR step has not run (or failed): nothing is said
    folder.save(
        ScreenTextRecord(
            engine="rapidocr",
            model="PP-OCRv4",
            shots=[],
            lines=[
                ScreenText(time_s=0.0, text="限时优惠", kind="overlay"),
                ScreenText(time_s=2.0, text="第一杯现磨", kind="subtitle"),
            ],
        )
    )
    facts = _facts(inp)
    assert [(t.time_s, t.text) for t in facts.screen_text] == [(0.0, "限时优惠"), (2.0, "第一杯现磨")]
    text = facts_text(facts)
    assert "开头 3 秒花字：限时优惠 / 买一送一" in text
    assert text.endswith("[00:00.00] 限时优惠\n[00:02.00] 第一杯现磨")
