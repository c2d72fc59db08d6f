"""The one column list of the ``视频分析`` and ``分镜`` tables, shared by the workbook and the Bitable.

A :class:`Column` says what a column holds (``value`` of a video or a shot row) and what kind of
value it is; each output renders the kinds its own way (Excel: a time is a fraction of a day with a
``[mm]:ss.00`` format; Bitable: a number field of seconds), so the outputs never disagree on which
columns exist, in which order, or what is in them.

Kinds: ``text``, ``time`` (seconds), ``number``, ``percent`` (a fraction 0..1), ``rate`` (speech
rate), ``image`` (a path relative to the output folder), ``link`` (a URL, or a local path),
``multi`` (a list of options), ``datetime`` (an aware :class:`~datetime.datetime`). A column with
``options`` is a single select (``multi``: a multi select) over them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._ai.fields import FieldSpec
from .._artifacts import VideoResult
from ._format import (
    METRIC_LABELS,
    PERCENT_METRICS,
    TIME_METRICS,
    analysis_keys,
    error_text,
    plain,
    screen_lines,
    shot_speech,
    status_label,
    transcript_text_or_reason,
)
from .collect import Results

__all__ = [
    "CONTACT_PX",
    "KEYFRAME_PX",
    "SHOTS_SHEET",
    "SHOT_COLUMNS",
    "STATUS_OPTIONS",
    "VIDEOS_SHEET",
    "Column",
    "ShotRow",
    "shot_rows",
    "video_columns",
]

VIDEOS_SHEET = "视频分析"
SHOTS_SHEET = "分镜"
KEYFRAME_PX = 160
CONTACT_PX = 240
STATUS_OPTIONS = ("成功", "失败")


@dataclass(frozen=True)
class Column:
    """One column: its header, its width in Excel character units, its value and its kind."""

    header: str
    width: float
    value: Callable[[Any], Any]
    kind: str = "text"  # see the module docstring
    options: tuple[str, ...] = ()  # a select column's options (Excel: a drop-down list)


def video_columns(results: Results) -> list[Column]:
    """The columns of ``视频分析`` for ``results``: fixed ones, metrics present, the AI fields."""

    def metric(key: str) -> Callable[[VideoResult], Any]:
        return lambda v: getattr(v.metrics, key) if v.metrics else None

    def kind_of(key: str) -> str:
        if key in TIME_METRICS:
            return "time"
        if key in PERCENT_METRICS:
            return "percent"
        return "rate" if key == "speech_rate" else "number"

    cols = [
        Column("名称", 28, lambda v: v.name),
        Column("链接/路径", 36, lambda v: v.source, "link"),
        Column("状态", 8, status_label, options=STATUS_OPTIONS),
        Column("失败原因", 30, error_text),
        Column("时长", 10, lambda v: v.duration_s, "time"),
        Column("分辨率", 12, lambda v: f"{v.width}×{v.height}" if v.width and v.height else None),
        Column("镜头数", 8, metric("shot_count"), "number"),
        Column("平均镜头时长", 12, metric("avg_shot_s"), "time"),
        Column("语速", 14, metric("speech_rate"), "rate"),
        Column("开头 3 秒文案", 30, metric("hook_text")),
        Column("文案（转写）", 60, lambda v: transcript_text_or_reason(v.transcript) or None),
        Column("九宫格", CONTACT_PX / 7 + 2, lambda v: v.contact_sheet, "image"),
        Column("开头 3 秒花字", 24, metric("hook_overlay_text")),
        Column("画面文字", 40, lambda v: screen_lines(v.screen_text) or None),
    ]
    shown = {"duration_s", "shot_count", "avg_shot_s", "speech_rate", "hook_text", "hook_overlay_text"}
    for key, label in METRIC_LABELS.items():
        present = any(v.metrics and getattr(v.metrics, key) is not None for v in results.videos)
        if key not in shown and present:
            cols.append(Column(label, 12, metric(key), kind_of(key)))
    cols += [
        Column("帧率", 8, lambda v: round(v.fps, 3) if v.fps else None, "number"),
        Column("有音轨", 8, lambda v: None if v.has_audio is None else ("是" if v.has_audio else "否")),
        Column("转写引擎", 16, _engine),
    ]
    cols += _analysis_columns(results)
    finished = results.finished_at
    cols.append(Column("分析时间", 18, lambda v: finished, "datetime"))
    cols.append(Column("视频 ID", 18, lambda v: v.video_id))
    return cols


def _analysis_columns(results: Results) -> list[Column]:
    """The request's AI fields in schema order, then fields of other analyzers, then the AI status."""
    schema = {spec.name: spec for spec in results.analysis_fields}
    keys = [*schema, *(k for k in analysis_keys(results.videos) if k not in schema)]
    cols = [_analysis_column(key, schema.get(key)) for key in keys]
    if any(v.analysis_status for v in results.videos):
        cols.append(Column("AI 状态", 10, _ai_state))
        cols.append(Column("AI 备注", 30, _ai_notes))
    if any(v.analysis_usage for v in results.videos):
        currency = next(v.analysis_usage.currency for v in results.videos if v.analysis_usage)
        cols.append(Column(f"AI 费用（{currency}）", 12, _ai_cost, "number"))
    return cols


def _analysis_column(key: str, spec: FieldSpec | None) -> Column:
    def value(v: VideoResult) -> Any:
        raw = (v.analysis or {}).get(key)
        if spec is not None and spec.type == "multi_select":  # a list (a status text: one item)
            items = raw if isinstance(raw, list) else [raw] if raw not in (None, "") else []
            return [plain(x) for x in items if plain(x)] or None
        if spec is not None and spec.type == "number" and isinstance(raw, (int, float)):
            return raw
        return plain(raw) or None

    if spec is None:
        return Column(key, 30, value)
    width = 40 if spec.type == "text" and (spec.max_chars is None or spec.max_chars > 40) else 16
    if spec.type == "multi_select":
        return Column(key, width, value, "multi", spec.options)
    if spec.type == "single_select":
        return Column(key, width, value, options=spec.options)
    return Column(key, width, value, "number" if spec.type == "number" else "text")


_AI_STATES = {"ok": "成功", "not_configured": "未配置", "failed": "失败", "skipped": "跳过"}


def _ai_state(v: VideoResult) -> str | None:
    return _AI_STATES.get(v.analysis_status.state) if v.analysis_status else None


def _ai_notes(v: VideoResult) -> str | None:
    status = v.analysis_status
    if status is None:
        return None
    return "\n".join([*([status.message] if status.message else []), *status.notes]) or None


def _ai_cost(v: VideoResult) -> float | None:
    return v.analysis_usage.cost if v.analysis_usage else None


def _engine(v: VideoResult) -> str | None:
    return f"{v.transcript.engine} {v.transcript.model}" if v.transcript else None


@dataclass(frozen=True)
class ShotRow:
    """One row of ``分镜``: a shot of a video, what was said during it and the text on its keyframe."""

    video: VideoResult
    index: int
    start_s: float
    end_s: float
    keyframe: str
    speech: str
    screen_text: str = ""


def shot_rows(results: Results) -> list[ShotRow]:
    """Every shot of every video, in video then shot order."""
    rows = []
    for video in results.videos:
        for shot in video.shots:
            speech = shot_speech(shot, video.transcript)
            text = screen_lines(shot.on_screen_text)
            rows.append(ShotRow(video, shot.index, shot.start_s, shot.end_s, shot.keyframe, speech, text))
    return rows


SHOT_COLUMNS = [
    Column("视频", 28, lambda r: r.video.name),
    Column("镜头", 6, lambda r: r.index, "number"),
    Column("开始", 10, lambda r: r.start_s, "time"),
    Column("结束", 10, lambda r: r.end_s, "time"),
    Column("时长", 10, lambda r: r.end_s - r.start_s, "time"),
    Column("关键帧", KEYFRAME_PX / 7 + 2, lambda r: r.keyframe, "image"),
    Column("台词", 50, lambda r: r.speech or None),
    Column("画面文字", 40, lambda r: r.screen_text or None),
    Column("视频 ID", 18, lambda r: r.video.video_id),
]
