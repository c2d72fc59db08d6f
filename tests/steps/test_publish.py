from __future__ import annotations

import itertools
import json
import shutil
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from openpyxl import load_workbook
from PIL import Image, ImageDraw

from steps import (
    AnalysisRecord,
    ErrorInfo,
    FetchRecord,
    Manifest,
    Metrics,
    Options,
    ProbeRecord,
    Screenshot,
    ScreenText,
    ScreenTextLine,
    ScreenTextRecord,
    Segment,
    Settings,
    Shot,
    ShotsRecord,
    StepContext,
    TaskWorkspace,
    TranscriptRecord,
    VideoEntry,
    Word,
    atomic_write_json,
    save_artifact,
)
from steps._outputs import Results, results_schema
from steps.errors import InvalidStepInput
from steps.publish import handler, render_reports

TASK = "t_publish"
XSS = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil.example","点我")'
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "results.schema.json"
COLORS = ["#e4572e", "#29335c", "#f3a712", "#669bbc", "#a8c686", "#8e7dbe"]


def _jpeg(path: Path, size: tuple[int, int], color: str, label: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(img)
    draw.rectangle([size[0] // 8, size[1] // 8, size[0] // 2, size[1] // 2], fill="white")
    draw.text((size[0] // 8 + 6, size[1] // 8 + 6), label, fill="black")
    img.save(path, "JPEG", quality=85)
    return path.name


def _shots(
    vdir: Path, bounds: list[float], screenshots: tuple[float, ...] = (), size: tuple[int, int] = (640, 360)
) -> ShotsRecord:
    shots = []
    for i, (start, end) in enumerate(itertools.pairwise(bounds), start=1):
        _jpeg(vdir / "keyframes" / f"{i:04d}.jpg", size, COLORS[i % len(COLORS)], f"shot {i}")
        shots.append(Shot(index=i, start_s=start, end_s=end, keyframe=f"keyframes/{i:04d}.jpg"))
    shots_taken = []
    for t in screenshots:
        name = f"screenshots/{t:08.3f}.jpg"
        _jpeg(vdir / name, (640, 360), "#333333", f"t={t}")
        shots_taken.append(Screenshot(time_s=t, path=name))
    _jpeg(vdir / "contact_sheet.jpg", (960, 540), "#dddddd", "contact sheet 3x3")
    return ShotsRecord(
        detector="adaptive", shots=shots, screenshots=shots_taken, contact_sheet="contact_sheet.jpg"
    )


def _fetch(vdir: Path, source: str) -> FetchRecord:
    (vdir / "source.mp4").write_bytes(b"\0" * 64)
    return FetchRecord(source=source, path="source.mp4", sha256="ab" * 32, bytes=64)


def _transcript(vdir: Path, segments: list[Segment]) -> TranscriptRecord:
    (vdir / "transcript.srt").write_text("1\n00:00:00,000 --> 00:00:02,500\n大家好\n", encoding="utf-8")
    (vdir / "transcript.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:02.500\n大家好\n", encoding="utf-8")
    return TranscriptRecord(
        engine="funasr",
        model="SenseVoiceSmall",
        language="zh",
        text="".join(s.text for s in segments),
        segments=segments,
        speech_s=sum(s.end_s - s.start_s for s in segments),
        srt="transcript.srt",
        vtt="transcript.vtt",
    )


def _segment(*words: tuple[float, float, str]) -> Segment:
    return Segment(
        start_s=words[0][0],
        end_s=words[-1][1],
        text="".join(t for _, _, t in words),
        words=[Word(start_s=a, end_s=b, text=t) for a, b, t in words],
    )


SEGMENTS = [
    _segment((0.0, 0.8, "大家好，"), (0.9, 1.3, "今天"), (1.3, 1.8, "开箱"), (1.8, 2.5, "新款耳机。")),
    _segment((3.1, 3.6, "续航"), (3.6, 4.2, "三十"), (4.2, 5.0, "小时，"), (5.6, 6.0, "快充")),
    _segment((6.2, 8.0, "现在下单"), (9.2, 11.0, FORMULA)),
]


def build_task(settings: Settings, outputs: list[str] | None = None) -> TaskWorkspace:
    """A task workspace as the media steps leave it: 2 analysed, 1 failed, 1 duplicate, 1 unfinished."""
    ws = TaskWorkspace(settings.workspace, TASK)
    options = Options() if outputs is None else Options(outputs=outputs)
    videos = [
        VideoEntry(
            video_id="v-unbox",
            name="开箱视频 A",
            url="https://cdn.example.com/a.mp4",
            performance={"impressions": 10000, "clicks": 250},
        ),
        VideoEntry(video_id="v-xss", name=XSS, path="/data/clips/x.mp4"),
        VideoEntry(video_id="v-bad", name="损坏的视频", url="https://cdn.example.com/bad.mp4"),
        VideoEntry(
            video_id="v-dup",
            name="开箱视频 A（重复）",
            url="https://cdn.example.com/a.mp4",
            duplicate_of="v-unbox",
        ),
        VideoEntry(video_id="v-stuck", name="没跑完", url="https://cdn.example.com/c.mp4"),
    ]
    manifest = Manifest(
        task_id=TASK, title="新品短视频 第 1 批", created_at=1717200000.0, options=options, videos=videos
    )
    atomic_write_json(ws.manifest, manifest.model_dump(mode="json"))

    vdir = ws.make_video_dir("v-unbox")
    save_artifact(vdir, _fetch(vdir, "https://cdn.example.com/a.mp4"))
    save_artifact(
        vdir, ProbeRecord(duration_s=12.0, width=1280, height=720, fps=25.0, codec="h264", has_audio=True)
    )
    save_artifact(vdir, _shots(vdir, [0.0, 3.0, 5.5, 9.0, 12.0], screenshots=(1.0,)))
    save_artifact(vdir, _transcript(vdir, SEGMENTS))
    metrics = Metrics(
        duration_s=12.0, shot_count=4, avg_shot_s=3.0, median_shot_s=3.25, cuts_per_min=15.0,
        first_shot_s=3.0, speech_ratio=0.958, speech_rate=130.0, speech_rate_unit="chars/min",
        hook_text="大家好，今天开箱新款耳机。", impressions=10000, clicks=250, ctr=0.025,
    )  # fmt: skip
    ai = {"卖点": ["续航 30 小时", "主动降噪"], "情绪": "积极", "评分": 8.5}
    save_artifact(vdir, AnalysisRecord(metrics=metrics, ai=ai))

    vdir = ws.make_video_dir("v-xss")
    save_artifact(vdir, _fetch(vdir, "/data/clips/x.mp4"))
    save_artifact(
        vdir, ProbeRecord(duration_s=4.0, width=720, height=1280, fps=30.0, codec="h264", has_audio=False)
    )
    save_artifact(vdir, _shots(vdir, [0.0, 1.5, 4.0], size=(360, 640)))
    save_artifact(vdir, AnalysisRecord(metrics=Metrics(duration_s=4.0, shot_count=2, avg_shot_s=2.0)))

    vdir = ws.make_video_dir("v-bad")
    save_artifact(vdir, _fetch(vdir, "https://cdn.example.com/bad.mp4"))
    save_artifact(vdir, ErrorInfo(code="CorruptVideo", message="the video cannot be decoded", step="media"))

    vdir = ws.make_video_dir("v-stuck")
    save_artifact(vdir, _fetch(vdir, "https://cdn.example.com/c.mp4"))
    save_artifact(
        vdir, ProbeRecord(duration_s=6.0, width=640, height=360, fps=25.0, codec="h264", has_audio=True)
    )
    return ws


def publish(settings: Settings, outputs: list[str] | None = None) -> tuple[TaskWorkspace, Results, dict]:
    """Build the task, run the Publish handler, and read results.json back."""
    ws = build_task(settings, outputs)
    out = handler({"task_id": TASK}, StepContext(settings=settings))
    results = Results.model_validate_json((ws.out / "results.json").read_text(encoding="utf-8"))
    return ws, results, out


def media_paths(results: Results) -> list[str]:
    paths: list[str] = []
    for v in results.videos:
        paths += [s.keyframe for s in v.shots] + [s.path for s in v.screenshots]
        paths += [v.contact_sheet] if v.contact_sheet else []
        paths += [v.transcript.srt, v.transcript.vtt] if v.transcript else []
    return paths


def test_results_json_has_every_video_in_manifest_order_with_reasons(settings: Settings) -> None:
    ws, results, out = publish(settings)

    assert out == {
        "task_id": TASK,
        "outputs": {"json": "results.json", "xlsx": "report.xlsx", "html": "report.html"},
        "failed": {},
    }
    assert [v.video_id for v in results.videos] == ["v-unbox", "v-xss", "v-bad", "v-dup", "v-stuck"]
    assert results.counts.model_dump() == {"total": 5, "ok": 2, "failed": 3}
    assert results.title == "新品短视频 第 1 批"
    assert results.created_at.timestamp() == 1717200000.0
    assert results.finished_at >= results.created_at
    unbox, xss, bad, dup, stuck = results.videos
    assert (unbox.status, unbox.error, unbox.width, unbox.height, unbox.has_audio) == (
        "ok",
        None,
        1280,
        720,
        True,
    )
    assert unbox.metrics is not None and unbox.metrics.shot_count == 4
    assert unbox.analysis == {"卖点": ["续航 30 小时", "主动降噪"], "情绪": "积极", "评分": 8.5}
    assert unbox.performance == {"impressions": 10000, "clicks": 250}
    assert unbox.transcript is not None and next(s.text for s in unbox.transcript.segments).startswith(
        "大家好"
    )
    assert (xss.status, xss.name, xss.transcript, xss.has_audio) == ("ok", XSS, None, False)
    assert bad.status == "failed" and bad.error is not None
    assert (bad.error.code, bad.error.message, bad.error.step) == (
        "CorruptVideo",
        "the video cannot be decoded",
        "media",
    )
    assert bad.sha256 == "ab" * 32
    assert dup.status == "failed" and dup.error is not None
    assert (dup.error.code, dup.error.message) == ("DuplicateVideo", "same link as 开箱视频 A")
    assert stuck.status == "failed" and stuck.error is not None and stuck.error.code == "Incomplete"
    assert "fetch, media" in stuck.error.message
    assert stuck.duration_s == 6.0  # what was learnt before it stopped is still reported

    task_progress = json.loads((ws.progress_dir / "_task.json").read_text(encoding="utf-8"))
    assert task_progress["phase"] == "published"
    assert task_progress["outputs"] == out["outputs"]


def test_output_folder_is_self_contained(settings: Settings) -> None:
    ws, results, _ = publish(settings)
    paths = media_paths(results)

    assert len(paths) == 4 + 1 + 1 + 2 + 2 + 1  # unbox: shots, screenshot, sheet, srt+vtt; xss: shots, sheet
    for rel in paths:
        assert rel.startswith("media/") and not Path(rel).is_absolute()
        assert (ws.out / rel).is_file(), rel
    assert results.videos[0].shots[0].keyframe == "media/v-unbox/keyframes/0001.jpg"

    shutil.rmtree(ws.dir / "videos")  # what Finish does
    written = render_reports(ws.out / "results.json")
    assert set(written) == {"xlsx", "html"}
    wb = load_workbook(written["xlsx"])
    assert len(wb["分镜"]._images) == 6


def test_rerun_rewrites_the_same_outputs(settings: Settings) -> None:
    ws, first, _ = publish(settings)
    handler({"task_id": TASK}, StepContext(settings=settings))
    second = Results.model_validate_json((ws.out / "results.json").read_text(encoding="utf-8"))

    assert second.model_dump(exclude={"finished_at"}) == first.model_dump(exclude={"finished_at"})
    files = sorted(p.relative_to(ws.out).as_posix() for p in ws.out.rglob("*") if p.is_file())
    assert files == sorted(["results.json", "report.xlsx", "report.html", *media_paths(first)])


def test_only_the_requested_reports_are_written(settings: Settings) -> None:
    ws, results, out = publish(settings, outputs=["html"])

    assert out["outputs"] == {"json": "results.json", "html": "report.html"}
    assert not (ws.out / "report.xlsx").exists()
    assert results.counts.total == 5


def test_publish_without_a_manifest_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(InvalidStepInput, match="has no manifest"):
        handler({"task_id": "t_never_prepared"}, StepContext(settings=settings))


def test_committed_schema_matches_the_model_and_validates_results(settings: Settings) -> None:
    generated = results_schema()
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == generated, (
        "docs/results.schema.json is stale; regenerate it with "
        "`python -m steps._outputs > docs/results.schema.json`"
    )
    ws, _, _ = publish(settings)
    document = json.loads((ws.out / "results.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(committed).validate(document)
    document["videos"][0]["status"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(committed).validate(document)


def _rows(sheet) -> list[dict]:
    header = [c.value for c in sheet[1]]
    return [dict(zip(header, (c.value for c in row), strict=True)) for row in sheet.iter_rows(min_row=2)]


def test_workbook_has_one_row_per_video_with_contact_sheets(settings: Settings) -> None:
    ws, _, _ = publish(settings)
    wb = load_workbook(ws.out / "report.xlsx")

    assert wb.sheetnames == ["总结", "视频分析", "分镜"]
    sheet = wb["视频分析"]
    header = [c.value for c in sheet[1]]
    assert header[:12] == [
        "名称", "链接/路径", "状态", "失败原因", "时长", "分辨率", "镜头数", "平均镜头时长",
        "语速", "开头 3 秒文案", "文案（转写）", "九宫格",
    ]  # fmt: skip
    assert {"点击率 CTR", "卖点", "情绪", "评分", "视频 ID"} <= set(header)
    rows = _rows(sheet)
    assert [r["名称"] for r in rows] == ["开箱视频 A", XSS, "损坏的视频", "开箱视频 A（重复）", "没跑完"]
    assert [r["状态"] for r in rows] == ["成功", "成功", "失败", "失败", "失败"]
    assert rows[2]["失败原因"] == "视频已损坏，无法解码：the video cannot be decoded（CorruptVideo）"
    assert rows[3]["失败原因"] == "重复的视频（只分析一次）：same link as 开箱视频 A（DuplicateVideo）"
    assert rows[0]["时长"] == timedelta(seconds=12)  # a number with a time format, read back as a duration
    assert sheet.cell(row=2, column=5).number_format == "[mm]:ss.00"
    assert rows[0]["分辨率"] == "1280×720" and rows[0]["镜头数"] == 4
    assert rows[0]["卖点"] == "续航 30 小时\n主动降噪"
    assert rows[0]["点击率 CTR"] == pytest.approx(0.025)
    assert sheet.cell(row=2, column=2).hyperlink.target == "https://cdn.example.com/a.mp4"
    assert sheet.freeze_panes == "B2"
    assert sheet.cell(row=2, column=11).alignment.wrap_text

    sheet_col = header.index("九宫格")
    anchors = sorted((img.anchor._from.row, img.anchor._from.col) for img in sheet._images)
    assert anchors == [(1, sheet_col), (2, sheet_col)]  # 0-based: rows 2 and 3 hold the two analysed videos
    for img in sheet._images:
        assert img.width == 240
        assert sheet.row_dimensions[img.anchor._from.row + 1].height >= img.height * 0.75
    assert sheet.column_dimensions["L"].width * 7 >= 240


def test_workbook_has_one_row_per_shot_with_keyframes_and_speech(settings: Settings) -> None:
    ws, _, _ = publish(settings)
    sheet = load_workbook(ws.out / "report.xlsx")["分镜"]

    assert [c.value for c in sheet[1]] == [
        "视频",
        "镜头",
        "开始",
        "结束",
        "时长",
        "关键帧",
        "台词",
        "画面文字",
        "视频 ID",
    ]
    rows = _rows(sheet)
    assert [(r["视频"], r["镜头"]) for r in rows] == [("开箱视频 A", i) for i in range(1, 5)] + [
        (XSS, 1),
        (XSS, 2),
    ]
    assert rows[1]["开始"] == timedelta(seconds=3) and rows[1]["结束"] == timedelta(seconds=5.5)
    assert rows[1]["时长"] == timedelta(seconds=2.5)
    # each shot has the words said during it: shot 3 (5.5–9 s) ends one segment and starts the next
    assert rows[0]["台词"] == "大家好，今天开箱新款耳机。"
    assert rows[1]["台词"] == "续航三十小时，"
    assert rows[2]["台词"] == "快充，现在下单"
    assert rows[3]["台词"] == FORMULA
    assert sheet.cell(row=5, column=7).data_type == "s"  # a formula-looking text stays text
    assert rows[4]["台词"] is None
    anchors = sorted((img.anchor._from.row, img.anchor._from.col) for img in sheet._images)
    assert anchors == [(r, 5) for r in range(1, 7)]
    assert {img.width for img in sheet._images} == {160}
    assert sheet.freeze_panes == "B2"


def test_workbook_stays_small_with_thumbnails(settings: Settings) -> None:
    ws, _, _ = publish(settings)
    originals = sum((ws.out / p).stat().st_size for p in media_paths(Results.model_validate_json(
        (ws.out / "results.json").read_text(encoding="utf-8"))) if p.endswith(".jpg"))  # fmt: skip
    assert (ws.out / "report.xlsx").stat().st_size < originals


def test_an_empty_transcript_says_why_in_the_reports() -> None:
    from steps._outputs._format import transcript_text_or_reason

    empty = TranscriptRecord(
        engine="whisper", model="tiny.en", language=None, text="", segments=[], speech_s=0.0,
        srt="transcript.srt", vtt="transcript.vtt", empty_reason="no_speech",
    )  # fmt: skip
    assert transcript_text_or_reason(empty) == "没有识别到语音（静音、音乐或噪声）。"
    foreign = empty.model_copy(update={"empty_reason": "unsupported_language", "language": "zh"})
    assert (
        transcript_text_or_reason(foreign) == "检测到的语言（zh）无法用 whisper tiny.en 转写，没有生成文案。"
    )
    assert transcript_text_or_reason(None) == ""


def _screen_text(vdir: Path, shots: int, screenshots: int) -> ScreenTextRecord:
    (vdir / "subtitles_ocr.srt").write_text("1\n00:00:00,000 --> 00:00:02,000\n今天开箱\n", encoding="utf-8")
    head = ScreenTextLine(text="限时优惠", box=[0.3, 0.1, 0.7, 0.2], confidence=0.99, kind="overlay")
    sub = ScreenTextLine(text=FORMULA, box=[0.2, 0.8, 0.8, 0.86], confidence=0.95, kind="subtitle")
    return ScreenTextRecord(
        engine="rapidocr",
        model="PP-OCRv4",
        shots=[[head, sub]] + [[] for _ in range(shots - 1)],
        screenshots=[[head]] * screenshots,
        lines=[
            ScreenText(time_s=0.0, text=FORMULA, kind="subtitle"),
            ScreenText(time_s=1.2, text="限时优惠", kind="overlay"),
        ],
        srt="subtitles_ocr.srt",
    )


def test_on_screen_text_reaches_results_workbook_and_page(settings: Settings) -> None:
    ws = build_task(settings)
    save_artifact(ws.video_dir("v-unbox"), _screen_text(ws.video_dir("v-unbox"), shots=4, screenshots=1))
    save_artifact(ws.video_dir("v-xss"), _screen_text(ws.video_dir("v-xss"), shots=5, screenshots=0))  # stale
    handler({"task_id": TASK}, StepContext(settings=settings))
    results = Results.model_validate_json((ws.out / "results.json").read_text(encoding="utf-8"))
    document = json.loads((ws.out / "results.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))).validate(document)

    unbox, xss = results.videos[:2]
    assert [x.text for x in unbox.shots[0].on_screen_text] == ["限时优惠", FORMULA]
    assert unbox.shots[0].on_screen_text[0].kind == "overlay"
    assert [s.on_screen_text for s in unbox.shots[1:]] == [[], [], []]
    assert [x.text for x in unbox.screenshots[0].on_screen_text] == ["限时优惠"]
    assert [(x.time_s, x.text) for x in unbox.screen_text] == [(0.0, FORMULA), (1.2, "限时优惠")]
    assert unbox.subtitles_ocr == "media/v-unbox/subtitles_ocr.srt"
    assert (ws.out / unbox.subtitles_ocr).is_file()
    # a record read from other pictures (5 shots where shots.json has 2) is not shown
    assert (xss.screen_text, xss.subtitles_ocr) == ([], None)
    assert all(s.on_screen_text == [] for s in xss.shots)

    wb = load_workbook(ws.out / "report.xlsx")
    videos, shots = _rows(wb["视频分析"]), _rows(wb["分镜"])
    assert videos[0]["画面文字"] == f"{FORMULA}\n【花字】限时优惠"
    assert videos[1]["画面文字"] is None
    assert shots[0]["画面文字"] == f"【花字】限时优惠\n{FORMULA}"
    assert shots[1]["画面文字"] is None
    shot_sheet = wb["分镜"]
    col = [c.value for c in shot_sheet[1]].index("画面文字") + 1
    assert shot_sheet.cell(row=2, column=col).data_type == "s"  # a formula-looking text stays text

    page = (ws.out / "report.html").read_text(encoding="utf-8")
    assert '<span class="overlay">限时优惠</span>' in page
    assert "画面文字（2 行）" in page
    assert 'href="media/v-unbox/subtitles_ocr.srt"' in page
