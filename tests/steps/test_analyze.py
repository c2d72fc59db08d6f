"""Analyze: metrics a marketer reads — pace, speech, the hook, and ad performance."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from steps import (
    ANALYZERS,
    AiStatus,
    AiUsage,
    AnalysisInput,
    AnalysisRecord,
    Findings,
    Metrics,
    ProbeRecord,
    Registry,
    Segment,
    Settings,
    Shot,
    ShotsRecord,
    StepContext,
    TaskWorkspace,
    TranscriptRecord,
    VideoAnalyzer,
    VideoFolder,
    Word,
    load_artifact,
    load_video_progress,
    save_artifact,
)
from steps._metrics import compute_metrics, hook_text, performance_metrics, speech_units
from steps._progress import record_stage
from steps.analyze import handler
from steps.errors import PermanentError
from tests.steps._ws import make_task


def _probe(duration: float = 20.0, has_audio: bool = True) -> ProbeRecord:
    return ProbeRecord(
        duration_s=duration, width=720, height=1280, fps=30.0, codec="h264", has_audio=has_audio
    )


def _shots(*bounds: float) -> ShotsRecord:
    shots = [
        Shot(index=i + 1, start_s=a, end_s=b, keyframe=f"keyframes/shot_{i + 1:03d}.jpg")
        for i, (a, b) in enumerate(itertools.pairwise(bounds))
    ]
    return ShotsRecord(detector="adaptive", shots=shots)


def _transcript(segments: list[tuple[float, float, str]], language: str = "en") -> TranscriptRecord:
    segs = [Segment(start_s=a, end_s=b, text=t) for a, b, t in segments]
    return TranscriptRecord(
        engine="whisper",
        model="tiny.en",
        language=language,
        text=" ".join(s.text for s in segs),
        segments=segs,
        speech_s=sum(s.end_s - s.start_s for s in segs),
        srt="transcript.srt",
        vtt="transcript.vtt",
    )


def test_pace_metrics_from_shots() -> None:
    m = compute_metrics(_probe(20.0), _shots(0, 2, 5, 9, 20), None)
    assert m.shot_count == 4
    assert m.avg_shot_s == 5.0
    assert m.median_shot_s == 3.5
    assert m.first_shot_s == 2.0
    assert m.cuts_per_min == 9.0  # 3 cuts in 20 s
    assert m.speech_rate is None and m.hook_text is None


def test_english_speech_rate_in_words_per_minute_and_ratio() -> None:
    t = _transcript(
        [(0.0, 3.0, "Meet the new Lumen bottle."), (4.0, 10.0, "Order today and get free shipping.")]
    )
    m = compute_metrics(_probe(20.0), _shots(0, 20), t)
    assert m.speech_ratio == pytest.approx(9.0 / 20.0)
    assert m.speech_rate_unit == "words/min"
    assert m.speech_rate == pytest.approx(11 / (9.0 / 60.0), abs=0.1)


def test_chinese_speech_rate_counts_characters() -> None:
    t = _transcript(
        [(0.0, 6.0, "全新保温杯，二十四小时保冷。"), (6.0, 12.0, "今天下单包邮！")], language="zh"
    )
    m = compute_metrics(_probe(12.0), _shots(0, 12), t)
    assert m.speech_rate_unit == "chars/min"
    assert m.speech_rate == pytest.approx(
        18 / (12.0 / 60.0), abs=0.1
    )  # 18 characters; punctuation not counted
    assert speech_units("今天下单 free shipping", None) == (6, "chars/min")


def test_hook_is_what_is_said_in_the_first_three_seconds() -> None:
    segs = [
        Segment(start_s=0.2, end_s=1.5, text="Running late?"),
        Segment(start_s=1.6, end_s=6.0, text="Stride shoes lace up in one second flat, every time."),
    ]
    hook = hook_text(segs)
    assert hook.startswith("Running late? Stride shoes")
    assert hook.endswith("…")
    assert "every time" not in hook  # said after 3 s
    assert hook_text([Segment(start_s=3.5, end_s=5.0, text="late start")]) == ""
    two = [Segment(start_s=0.0, end_s=2.0, text="快来看"), Segment(start_s=2.0, end_s=2.8, text="新品")]
    assert hook_text(two, language="zh") == "快来看，新品"  # two utterances: a pause between them


def test_hook_uses_word_timings() -> None:
    """Words are counted in the hook by their own time, not by their share of the segment's text."""
    words = [Word(start_s=0.1, end_s=0.5, text="快"), Word(start_s=0.5, end_s=0.9, text="来看")]
    words += [Word(start_s=4.0, end_s=4.5, text="新"), Word(start_s=4.5, end_s=5.0, text="品")]
    seg = Segment(start_s=0.1, end_s=5.0, text="快来看新品", words=words)
    assert hook_text([seg], language="zh") == "快来看…"  # an even spread would put 新 at 3.0 s


def test_no_speech_figures_without_speech() -> None:
    """An empty transcript gives no rate or hook; only "no speech" (not an unknown language) gives ratio 0."""
    silent = _transcript([]).model_copy(update={"empty_reason": "no_speech"})
    m = compute_metrics(_probe(20.0), _shots(0, 20), silent)
    assert (m.speech_ratio, m.speech_rate, m.speech_rate_unit, m.hook_text) == (0.0, None, None, None)
    foreign = silent.model_copy(update={"empty_reason": "unsupported_language", "language": "fr"})
    m = compute_metrics(_probe(20.0), _shots(0, 20), foreign)
    assert (m.speech_ratio, m.speech_rate, m.hook_text) == (None, None, None)
    m = compute_metrics(_probe(20.0), _shots(0, 20), None)  # transcription off
    assert m.speech_ratio is None


def test_performance_ratios_and_zero_denominators() -> None:
    perf = performance_metrics({"impressions": 48200, "clicks": 1350, "spend": 920.5, "conversions": 88})
    assert perf["ctr"] == pytest.approx(1350 / 48200, rel=1e-4)
    assert perf["cvr"] == pytest.approx(88 / 1350, rel=1e-4)
    assert perf["cpc"] == pytest.approx(920.5 / 1350, rel=1e-3)
    assert perf["cpa"] == pytest.approx(920.5 / 88, rel=1e-3)
    none = performance_metrics({"impressions": 0, "clicks": 0, "spend": 10.0, "conversions": 0})
    assert none["ctr"] is None and none["cvr"] is None and none["cpc"] is None and none["cpa"] is None
    assert performance_metrics(None)["ctr"] is None


def test_no_audio_means_no_speech_ratio() -> None:
    m = compute_metrics(_probe(8.0, has_audio=False), _shots(0, 8), None)
    assert m.speech_ratio is None and m.speech_rate is None


def test_handler_writes_analysis_from_the_artifacts(settings: Settings, silent_video) -> None:
    ws, (vid,) = make_task(settings, [silent_video.path])
    vdir = ws.video_dir(vid)
    save_artifact(vdir, _probe(8.0, has_audio=False))
    save_artifact(vdir, _shots(0, 2, 3.6, 6, 8))
    out = handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings))
    assert out == {"video_id": vid, "status": "ok"}
    record = load_artifact(vdir, AnalysisRecord)
    assert record is not None and isinstance(record.metrics, Metrics)
    assert record.metrics.shot_count == 4 and record.metrics.cuts_per_min == 22.5
    # the built-in AI analysis, without a model endpoint: every field says so, nothing is invented
    assert record.ai == dict.fromkeys(["人群", "功能", "痛点", "场景", "概述", "分析"], "未配置")
    assert record.ai_status is not None and record.ai_status.state == "not_configured"
    assert record.ai_usage is None


def test_the_analysis_moves_the_card_past_an_ocr_stage_that_gave_up(settings: Settings, silent_video) -> None:
    ws, (vid,) = make_task(settings, [silent_video.path])
    vdir = ws.video_dir(vid)
    save_artifact(vdir, _probe(8.0, has_audio=False))
    save_artifact(vdir, _shots(0, 2, 3.6, 6, 8))
    record_stage(ws, vid, "ocr", "running", {"code": "Transient.Network", "message": "reset"})
    handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings))
    assert load_video_progress(ws, vid)["stages"] == {"ocr": "skipped", "analyze": "ok"}


def test_handler_refuses_when_shots_are_missing(settings: Settings, silent_video) -> None:
    ws, (vid,) = make_task(settings, [silent_video.path])
    save_artifact(ws.video_dir(vid), _probe(8.0))
    with pytest.raises(PermanentError, match=r"shots\.json"):
        handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings))


# --- the analyzer seam -----------------------------------------------------------------------------


class ShotReader:
    """An analyzer reading the typed folder: how many keyframes exist, the request's name, the pace."""

    name = "shot-reader"

    def analyze(self, inp: AnalysisInput, ctx: StepContext) -> dict[str, object]:
        frames = [path for _, path in inp.video.keyframes() if path.is_file()]
        probe = inp.video.probe()
        return {
            "keyframes_on_disk": len(frames),
            "video_name": inp.entry.name,
            "cuts_per_min": inp.metrics.cuts_per_min,
            "portrait": probe is not None and probe.height > probe.width,
            "outputs": list(inp.options.outputs),
        }


class Echo:
    def __init__(self, name: str, fields: dict[str, object]) -> None:
        self.name, self.fields = name, fields

    def analyze(self, inp: AnalysisInput, ctx: StepContext) -> dict[str, object]:
        return self.fields


def _analysed_task(settings: Settings, video: Path) -> tuple[TaskWorkspace, str]:
    ws, (vid,) = make_task(settings, [video], {"outputs": ["json"]})
    folder = VideoFolder.of(ws, vid)
    folder.save(_probe(8.0, has_audio=False))
    shots = _shots(0, 2, 3.6, 6, 8)
    for shot in shots.shots[:3]:  # the fourth keyframe was never written
        (folder.path / shot.keyframe).parent.mkdir(parents=True, exist_ok=True)
        (folder.path / shot.keyframe).write_bytes(b"\xff\xd8\xff")
    folder.save(shots)
    return ws, vid


def test_registered_analyzers_add_their_fields(settings: Settings, silent_video) -> None:
    ws, vid = _analysed_task(settings, silent_video.path)
    analyzers: Registry[VideoAnalyzer] = ANALYZERS.with_items(ShotReader(), Echo("mood", {"情绪": "轻松"}))
    ctx = StepContext(settings=settings, analyzers=analyzers)
    handler({"task_id": ws.task_id, "video_id": vid}, ctx)
    record = VideoFolder.of(ws, vid).analysis()
    assert record is not None and record.ai == {
        **dict.fromkeys(["人群", "功能", "痛点", "场景", "概述", "分析"], "未配置"),  # the built-in one
        "keyframes_on_disk": 3,
        "video_name": silent_video.path.name,
        "cuts_per_min": 22.5,
        "portrait": True,
        "outputs": ["json"],
        "情绪": "轻松",
    }


def test_two_analyzers_returning_one_field_is_an_error(settings: Settings, silent_video) -> None:
    ws, vid = _analysed_task(settings, silent_video.path)
    analyzers = Registry("analyzer", [Echo("a", {"人群": "学生"}), Echo("b", {"人群": "白领"})])
    with pytest.raises(ValueError, match="analyzers 'a' and 'b' both return '人群'"):
        handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings, analyzers=analyzers))


def test_the_video_folder_reads_each_artifact_typed(tmp_path: Path) -> None:
    folder = VideoFolder(tmp_path / "v1")
    folder.path.mkdir()
    assert (folder.video_id, folder.probe(), folder.shots(), folder.transcript()) == ("v1", None, None, None)
    assert (folder.keyframes(), folder.contact_sheet(), folder.source(), folder.audio()) == (
        [],
        None,
        None,
        None,
    )
    folder.save(_probe(20.0))
    assert folder.probe() == _probe(20.0) and folder.audio() is None  # has audio, but none extracted yet
    shots = _shots(0, 5, 20).model_copy(update={"contact_sheet": "contact_sheet.jpg"})
    folder.save(shots)
    assert [(s.index, p) for s, p in folder.keyframes()] == [
        (1, folder.path / "keyframes/shot_001.jpg"),
        (2, folder.path / "keyframes/shot_002.jpg"),
    ]
    assert folder.contact_sheet() == folder.path / "contact_sheet.jpg"
    (folder.path / "shots.json").write_text("{not json", encoding="utf-8")
    assert folder.shots() is None  # half-written or foreign: as if absent
    folder.save(_shots(0, 5).model_copy(update={"contact_sheet": "../../elsewhere.jpg"}))
    with pytest.raises(ValueError, match="leaves"):
        folder.contact_sheet()


class Metered:
    """An analyzer that reports findings: fields, what its model calls cost, how it went."""

    def __init__(self, name: str, fields: dict[str, object], tokens: int, status: bool = False) -> None:
        self.name, self.fields, self.tokens, self.status = name, fields, tokens, status

    def analyze(self, inp: AnalysisInput, ctx: StepContext) -> Findings:
        usage = AiUsage(model=self.name, calls=1, prompt_tokens=self.tokens, completion_tokens=10, cost=0.5)
        return Findings(self.fields, usage, AiStatus(state="ok", notes=[self.name]) if self.status else None)


def test_findings_add_up_and_only_one_analyzer_reports_a_status(settings: Settings, silent_video) -> None:
    ws, vid = _analysed_task(settings, silent_video.path)
    analyzers = Registry(
        "analyzer",
        [
            Metered("vision", {"人群": "学生"}, 100, status=True),
            Echo("plain", {"情绪": "轻松"}),
            Metered("ocr", {}, 50),
        ],
    )
    handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings, analyzers=analyzers))
    record = VideoFolder.of(ws, vid).analysis()
    assert record is not None and record.ai == {"人群": "学生", "情绪": "轻松"}
    assert record.ai_usage == AiUsage(
        model="vision, ocr", calls=2, prompt_tokens=150, completion_tokens=20, cost=1.0
    )
    assert record.ai_status == AiStatus(state="ok", notes=["vision"])
    two = Registry(
        "analyzer", [Metered("a", {"x": 1}, 1, status=True), Metered("b", {"y": 1}, 1, status=True)]
    )
    with pytest.raises(ValueError, match="analyzers 'a' and 'b' both report a status"):
        handler({"task_id": ws.task_id, "video_id": vid}, StepContext(settings=settings, analyzers=two))
