"""The workbook's ``总结`` sheet: the batch summary — the model's headline, findings and suggestions
(each with the videos it is about), then the code's rankings, comparison and the AI cost."""

from __future__ import annotations

from collections.abc import Sequence

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from .._ai.summary import BatchSummary, Claim, fmt_ratio, usage_text
from .collect import Results

__all__ = ["SUMMARY_SHEET", "fill_summary_sheet"]

SUMMARY_SHEET = "总结"
_TITLE = Font(bold=True, size=14)
_HEAD = Font(bold=True, color="FFFFFF")
_HEAD_FILL = PatternFill("solid", fgColor="1F3A5F")
_MUTED = Font(color="667085")
_WRAP = Alignment(wrap_text=True, vertical="top")


class _Rows:
    """Writes rows top-down into a sheet, every value as text or a number (never a formula)."""

    def __init__(self, ws: Worksheet) -> None:
        self.ws, self.row = ws, 1

    def put(self, *values: object, font: Font | None = None, fill: PatternFill | None = None) -> None:
        for c, value in enumerate(values, start=1):
            cell = self.ws.cell(row=self.row, column=c)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                cell.value = value
            elif value is not None:
                cell.value = ILLEGAL_CHARACTERS_RE.sub("", str(value))
                cell.data_type = "s"
            cell.alignment = _WRAP
            if font is not None:
                cell.font = font
            if fill is not None:
                cell.fill = fill
        self.row += 1

    def head(self, *titles: str) -> None:
        self.put(*titles, font=_HEAD, fill=_HEAD_FILL)

    def gap(self) -> None:
        self.row += 1


def _names(ids: Sequence[str], names: dict[str, str]) -> str:
    return "、".join(names.get(i, i) for i in ids)


def _claims(rows: _Rows, title: str, claims: Sequence[Claim], names: dict[str, str]) -> None:
    rows.head(title, "涉及的视频")
    for i, claim in enumerate(claims, start=1):
        rows.put(f"{i}. {claim.text}", _names(claim.video_ids, names) or "（未指明）")
    rows.gap()


def _numbers(rows: _Rows, summary: BatchSummary) -> None:
    numbers = summary.numbers
    rows.head("指标", "名次", "视频", "数值")
    for ranking in numbers.rankings:
        order = "越高越好" if ranking.higher_is_better else "越低越好"
        for place, entry in enumerate(ranking.ranked, start=1):
            rows.put(f"{ranking.label}（{order}）", place, entry.name, fmt_ratio(ranking.metric, entry.value))
        rows.put(f"{ranking.label}（整批）", None, None, fmt_ratio(ranking.metric, ranking.batch_value))
    if not numbers.rankings:
        rows.put("这一批没有投放数据，没有排名。", font=_MUTED)
    rows.gap()
    if numbers.traits:
        best = "、".join(v.name for v in numbers.strong)
        rows.head("特征", f"表现最好的（{best}）", "其余")
        for trait in numbers.traits:
            rows.put(trait.label, trait.strong, trait.rest)
        rows.gap()
    if numbers.without_performance:
        rows.put("没有投放数据的视频", "、".join(v.name for v in numbers.without_performance), font=_MUTED)


def fill_summary_sheet(ws: Worksheet, results: Results) -> None:
    """Write ``results.summary`` into ``ws``."""
    summary = results.summary
    assert summary is not None
    names = {v.video_id: v.name for v in results.videos}
    rows = _Rows(ws)
    rows.put(f"批次总结 · {results.title}", font=_TITLE)
    if summary.prose is not None:
        rows.put(summary.prose.headline, font=Font(bold=True))
    else:
        rows.put(f"AI 总结：{summary.status.message or '没有生成'}", font=_MUTED)
    cost = usage_text(results.analysis_usage)
    if cost:
        rows.put(cost, font=_MUTED)
    rows.gap()
    if summary.prose is not None:
        _claims(rows, "发现", summary.prose.findings, names)
        _claims(rows, "建议", summary.prose.suggestions, names)
    _numbers(rows, summary)
    for column, width in zip("ABCD", (48, 36, 28, 14), strict=True):
        ws.column_dimensions[column].width = width
