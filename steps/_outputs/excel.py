"""``report.xlsx``: sheets ``总结`` (the batch summary), ``视频分析`` (one row per video) and ``分镜``
(one row per shot), images embedded.

The AI analysis columns follow the request's field schema, in its order: number fields are
numeric cells, single-select fields get a drop-down list of their options, multi-select answers are
joined with ``、``.

Times are stored as numbers (fractions of a day, Excel's time unit) with the format ``[mm]:ss.00``,
so they display as ``mm:ss.ss`` and still sort and sum as numbers. Images are embedded as small JPEG
thumbnails so a workbook of a hundred videos stays a few MB.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.drawing.image import Image as XLImage
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from PIL import Image, UnidentifiedImageError

from .._ai.fields import FieldSpec
from .._artifacts import VideoResult
from .._logging import get_logger
from .._workspace import atomic_write_bytes, inside
from ._format import (
    METRIC_LABELS,
    PERCENT_METRICS,
    TIME_METRICS,
    analysis_keys,
    error_text,
    plain,
    shot_speech,
    speech_unit,
    status_label,
    transcript_text_or_reason,
)
from .collect import Results
from .summary_sheet import SUMMARY_SHEET, fill_summary_sheet

__all__ = ["SHOTS_SHEET", "SUMMARY_SHEET", "TIME_FORMAT", "VIDEOS_SHEET", "write_xlsx"]

VIDEOS_SHEET = "视频分析"
SHOTS_SHEET = "分镜"
TIME_FORMAT = "[mm]:ss.00"
KEYFRAME_PX = 160
CONTACT_PX = 240
MAX_CELL_CHARS = 32000  # Excel's limit is 32,767
_HEADER_FILL = PatternFill("solid", fgColor="1F3A5F")
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_FAILED_FONT = Font(color="C0392B", bold=True)
_WRAP = Alignment(wrap_text=True, vertical="top")
log = get_logger(__name__)


@dataclass(frozen=True)
class Column:
    header: str
    width: float  # Excel character units
    value: Callable[[Any], Any]
    kind: str = "text"  # text | time | number | percent | rate | image | link
    options: tuple[str, ...] = ()  # a single-select field's options: the column gets a drop-down list


def write_xlsx(results: Results, out_dir: Path, name: str = "report.xlsx") -> Path:
    """Write the workbook for ``results`` into ``out_dir``; image paths are read relative to it."""
    wb = Workbook()
    first = wb.active
    assert first is not None
    if results.summary is not None:
        first.title = SUMMARY_SHEET
        fill_summary_sheet(first, results)
        videos_ws = wb.create_sheet(VIDEOS_SHEET)
    else:  # a results.json from before the summary existed
        first.title, videos_ws = VIDEOS_SHEET, first
    _fill(videos_ws, _video_columns(results), results.videos, out_dir, CONTACT_PX)
    shots_ws = wb.create_sheet(SHOTS_SHEET)
    _fill(shots_ws, _SHOT_COLUMNS, _shot_rows(results), out_dir, KEYFRAME_PX)
    buf = io.BytesIO()
    wb.save(buf)
    path = out_dir / name
    atomic_write_bytes(path, buf.getvalue())
    log.info("publish.xlsx_written", path=str(path), bytes=len(buf.getvalue()))
    return path


def _video_columns(results: Results) -> list[Column]:
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
        Column("状态", 8, status_label),
        Column("失败原因", 30, error_text),
        Column("时长", 10, lambda v: v.duration_s, "time"),
        Column("分辨率", 12, lambda v: f"{v.width}×{v.height}" if v.width and v.height else None),
        Column("镜头数", 8, metric("shot_count"), "number"),
        Column("平均镜头时长", 12, metric("avg_shot_s"), "time"),
        Column("语速", 14, metric("speech_rate"), "rate"),
        Column("开头 3 秒文案", 30, metric("hook_text")),
        Column("文案（转写）", 60, lambda v: transcript_text_or_reason(v.transcript) or None),
        Column("九宫格", CONTACT_PX / 7 + 2, lambda v: v.contact_sheet, "image"),
    ]
    shown = {"duration_s", "shot_count", "avg_shot_s", "speech_rate", "hook_text"}
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
        if spec is not None and spec.type == "multi_select" and isinstance(raw, list):
            return "、".join(str(x) for x in raw) or None
        if spec is not None and spec.type == "number" and isinstance(raw, (int, float)):
            return raw
        return plain(raw) or None

    if spec is None:
        return Column(key, 30, value)
    kind = "number" if spec.type == "number" else "text"
    width = 40 if spec.type == "text" and (spec.max_chars is None or spec.max_chars > 40) else 16
    options = spec.options if spec.type == "single_select" else ()
    return Column(key, width, value, kind, options)


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
class _ShotRow:
    video: VideoResult
    index: int
    start_s: float
    end_s: float
    keyframe: str
    speech: str


def _shot_rows(results: Results) -> list[_ShotRow]:
    rows = []
    for video in results.videos:
        for shot in video.shots:
            speech = shot_speech(shot, video.transcript)
            rows.append(_ShotRow(video, shot.index, shot.start_s, shot.end_s, shot.keyframe, speech))
    return rows


_SHOT_COLUMNS = [
    Column("视频", 28, lambda r: r.video.name),
    Column("镜头", 6, lambda r: r.index, "number"),
    Column("开始", 10, lambda r: r.start_s, "time"),
    Column("结束", 10, lambda r: r.end_s, "time"),
    Column("时长", 10, lambda r: r.end_s - r.start_s, "time"),
    Column("关键帧", KEYFRAME_PX / 7 + 2, lambda r: r.keyframe, "image"),
    Column("台词", 50, lambda r: r.speech or None),
    Column("视频 ID", 18, lambda r: r.video.video_id),
]


def _fill(ws: Worksheet, cols: list[Column], rows: Sequence[Any], out_dir: Path, image_px: int) -> None:
    for c, col in enumerate(cols, start=1):
        cell = ws.cell(row=1, column=c)
        _set_text(cell, col.header)
        cell.fill, cell.font = _HEADER_FILL, _HEADER_FONT
        cell.alignment = Alignment(vertical="center", wrap_text=True)
        ws.column_dimensions[get_column_letter(c)].width = col.width
    ws.row_dimensions[1].height = 24
    for r, item in enumerate(rows, start=2):
        image_h = 0
        for c, col in enumerate(cols, start=1):
            cell = ws.cell(row=r, column=c)
            value = col.value(item)
            if col.kind == "image":
                image_h = max(image_h, _embed(ws, cell, value, out_dir, image_px))
            else:
                _write_value(cell, value, col.kind, item)
        ws.row_dimensions[r].height = max(36.0, image_h * 0.75 + 6) if image_h else 48.0
        if isinstance(item, VideoResult) and item.status == "failed":
            ws.cell(row=r, column=3).font = _FAILED_FONT
    for c, col in enumerate(cols, start=1):
        if col.options and rows:
            _drop_down(ws, c, col.options, len(rows))
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{max(len(rows) + 1, 1)}"


def _drop_down(ws: Worksheet, column: int, options: Sequence[str], rows: int) -> None:
    """A list validation on the column's data cells, when Excel can hold the options in one formula."""
    formula = '"' + ",".join(options) + '"'
    if any("," in o or '"' in o for o in options) or len(formula) > 255:
        return  # Excel's list formula cannot quote these; the column stays plain text
    letter = get_column_letter(column)
    check = DataValidation(type="list", formula1=formula, allow_blank=True, showErrorMessage=False)
    check.add(f"{letter}2:{letter}{rows + 1}")
    ws.add_data_validation(check)


def _write_value(cell: Cell, value: Any, kind: str, item: Any) -> None:
    cell.alignment = _WRAP
    if value is None or value == "":
        return
    if kind == "time":
        cell.value = float(value) / 86400
        cell.number_format = TIME_FORMAT
    elif kind == "percent":
        cell.value = float(value)
        cell.number_format = "0.0%"
    elif kind == "rate":
        cell.value = round(float(value), 1)
        cell.number_format = f'0" {speech_unit(item.metrics)}"'
    elif kind == "number":
        cell.value = value
        cell.number_format = "0" if isinstance(value, int) else "#,##0.00"
    else:
        _set_text(cell, str(value))
        if kind == "link" and str(value).startswith(("http://", "https://")):
            cell.hyperlink = str(value)
            cell.font = Font(color="1F5FBF", underline="single")


def _set_text(cell: Cell, text: str) -> None:
    """Store ``text`` as a string, never as a formula (a name like ``=HYPERLINK(...)`` stays text)."""
    text = ILLEGAL_CHARACTERS_RE.sub("", text)
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    cell.value = text
    cell.data_type = "s"


def _embed(ws: Worksheet, cell: Cell, rel: str | None, out_dir: Path, width: int) -> int:
    """Anchor a JPEG thumbnail of ``out_dir/rel`` at ``cell``; its height in pixels (0 if none)."""
    if not rel:
        return 0
    try:
        with Image.open(inside(out_dir, rel)) as img:
            thumb = img.convert("RGB")
            thumb.thumbnail((width, width * 4))
    except (OSError, ValueError, UnidentifiedImageError) as exc:
        log.warning("publish.xlsx_image_unreadable", path=rel, error=str(exc))
        return 0
    buf = io.BytesIO()
    thumb.save(buf, "JPEG", quality=80, optimize=True)
    buf.seek(0)
    picture = XLImage(buf)
    picture.width, picture.height = thumb.size
    ws.add_image(picture, cell.coordinate)
    return thumb.size[1]
