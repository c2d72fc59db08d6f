"""``report.xlsx``: sheets ``总结`` (the batch summary), ``视频分析`` (one row per video) and ``分镜``
(one row per shot), images embedded.

The AI analysis columns follow the request's field schema, in its order: number fields are
numeric cells, single-select fields get a drop-down list of their options, multi-select answers are
joined with ``、``.

Times are stored as numbers (fractions of a day, Excel's time unit) with the format ``[mm]:ss.00``,
so they display as ``mm:ss.ss`` and still sort and sum as numbers. Images are embedded as small JPEG
thumbnails so a workbook of a hundred videos stays a few MB. The columns are the shared list of
:mod:`.columns` (the Bitable tables have the same ones).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import timezone
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

from .._artifacts import VideoResult
from .._logging import get_logger
from .._workspace import atomic_write_bytes, inside
from ._format import speech_unit
from .collect import Results
from .columns import (
    CONTACT_PX,
    KEYFRAME_PX,
    SHOT_COLUMNS,
    SHOTS_SHEET,
    VIDEOS_SHEET,
    Column,
    shot_rows,
    video_columns,
)
from .summary_sheet import SUMMARY_SHEET, fill_summary_sheet

__all__ = ["SHOTS_SHEET", "SUMMARY_SHEET", "TIME_FORMAT", "VIDEOS_SHEET", "write_xlsx"]

TIME_FORMAT = "[mm]:ss.00"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
MAX_CELL_CHARS = 32000  # Excel's limit is 32,767
_HEADER_FILL = PatternFill("solid", fgColor="1F3A5F")
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_FAILED_FONT = Font(color="C0392B", bold=True)
_WRAP = Alignment(wrap_text=True, vertical="top")
log = get_logger(__name__)


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
    _fill(videos_ws, video_columns(results), results.videos, out_dir, CONTACT_PX)
    shots_ws = wb.create_sheet(SHOTS_SHEET)
    _fill(shots_ws, SHOT_COLUMNS, shot_rows(results), out_dir, KEYFRAME_PX)
    buf = io.BytesIO()
    wb.save(buf)
    path = out_dir / name
    atomic_write_bytes(path, buf.getvalue())
    log.info("publish.xlsx_written", path=str(path), bytes=len(buf.getvalue()))
    return path


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
    if kind == "multi":
        _set_text(cell, "、".join(str(x) for x in value))
    elif kind == "datetime":
        cell.value = value.astimezone(timezone.utc).replace(tzinfo=None)  # Excel has no time zones
        cell.number_format = DATETIME_FORMAT
    elif kind == "time":
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
