"""Bitable in: a team's video table (one row per creative) read as the videos of a batch.

The columns are found by name: the name (``素材名称`` / ``名称`` / ``name``), the link (``视频链接`` /
``链接`` / ``link`` / ``url``) and an attachment column holding the file; the performance columns map
onto the performance fields (``展现`` → impressions, ``点击`` → clicks, ``消耗`` → spend, ``激活人数`` /
``转化`` → conversions). A request may name any of them instead (``source.columns``).

Rows are read page by page, in the view's order when the link names a view. An empty row is
skipped; a row without a usable link becomes a :class:`SourceRow` with a ``problem`` (a failed video
with that reason); a table without a name or a link column is an ``InvalidRequest`` that lists the
columns it has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._ai.fields import FieldSpec, fields_from_bitable
from ..errors import InvalidRequest
from ._api import BitableApi
from ._link import BitableLink, parse_bitable_link

__all__ = [
    "COLUMN_NAMES",
    "PERFORMANCE_COLUMNS",
    "BitableSource",
    "ColumnMap",
    "SourceRow",
    "detect_columns",
    "read_bitable_source",
    "rows_from_records",
]

ATTACHMENT_TYPE = 17
# What each role's column may be called, most specific first (compared without case and spaces).
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "name": ("素材名称", "名称", "素材名", "name", "title"),
    "link": ("视频链接", "链接", "视频地址", "link", "url", "video_url"),
}
PERFORMANCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "impressions": ("展现", "展示", "曝光", "impressions"),
    "clicks": ("点击", "点击数", "clicks"),
    "spend": ("消耗", "花费", "spend", "cost"),
    "conversions": ("激活人数", "转化", "转化数", "激活", "conversions"),
}
_HTTP = re.compile(r"https?://[^\s<>\"'，。、；！？）】]+", re.I)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class ColumnMap:
    """Which column holds what: the name, the link, the attachment and the performance numbers."""

    name: str | None
    link: str | None
    attachment: str | None
    performance: Mapping[str, str] = field(default_factory=dict)  # performance field → column

    @property
    def used(self) -> set[str]:
        return {c for c in (self.name, self.link, self.attachment, *self.performance.values()) if c}


@dataclass(frozen=True)
class SourceRow:
    """One non-empty row: a video (a link or an attachment) or the reason it cannot be one."""

    row: int  # 1-based, in the order read
    record_id: str
    name: str
    url: str | None = None
    attachment: Mapping[str, Any] | None = None  # file_token, name, size, table_id
    performance: Mapping[str, float] | None = None
    problem: str | None = None


@dataclass(frozen=True)
class BitableSource:
    """A table read as a batch: its title, the rows, and the AI fields its other columns define."""

    title: str
    link: BitableLink
    app_token: str
    table_id: str
    columns: ColumnMap
    rows: list[SourceRow]
    empty_rows: int
    analysis_fields: list[FieldSpec]


def _key(name: str) -> str:
    return re.sub(r"\s+", "", name).lower()


def _find(fields: Sequence[Mapping[str, Any]], names: Iterable[str], exclude: set[str]) -> str | None:
    by_key = {_key(str(f.get("field_name", ""))): str(f.get("field_name", "")) for f in fields}
    for name in names:
        found = by_key.get(_key(name))
        if found and found not in exclude:
            return found
    return None


def detect_columns(
    fields: Sequence[Mapping[str, Any]], mapping: Mapping[str, str] | None = None
) -> ColumnMap:
    """Find the name, link, attachment and performance columns; ``mapping`` (role → column) wins.

    Raises ``InvalidRequest`` naming the table's columns when a mapped column does not exist, or
    when there is no name column or neither a link nor an attachment column.
    """
    mapping = dict(mapping or {})
    names = [str(f.get("field_name", "")) for f in fields]
    listed = "、".join(names) or "（没有列）"
    for role, column in mapping.items():
        if column not in names:
            raise InvalidRequest(f"source.columns.{role}: 表格里没有“{column}”列（表格的列：{listed}）")
    attachments = [str(f["field_name"]) for f in fields if int(f.get("type", 0)) == ATTACHMENT_TYPE]
    name = mapping.get("name") or _find(fields, COLUMN_NAMES["name"], set())
    link = mapping.get("link") or _find(fields, COLUMN_NAMES["link"], {name or ""} | set(attachments))
    attachment = mapping.get("attachment") or (attachments[0] if attachments else None)
    taken = {c for c in (name, link, attachment) if c}
    performance: dict[str, str] = {}
    for key, candidates in PERFORMANCE_COLUMNS.items():
        found = mapping.get(key) or _find(fields, candidates, taken)
        if found:
            performance[key] = found
            taken.add(found)
    if name is None or (link is None and attachment is None):
        missing = (
            "名称列（素材名称 / 名称 / name）"
            if name is None
            else "视频链接列（视频链接 / 链接 / link / url）或附件列"
        )
        raise InvalidRequest(
            f"多维表格里找不到{missing}。表格的列：{listed}。请改列名，或在请求的 source.columns 里指定"
        )
    return ColumnMap(name, link, attachment, performance)


def _text(value: Any) -> str:
    """A cell as plain text (rich-text segments, URL cells, formula results …)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "是" if value else ""
    if isinstance(value, (int, float)):
        return f"{value:g}"
    if isinstance(value, Mapping):
        if "value" in value and "type" in value:  # a formula or lookup result
            return _text(value["value"])
        return str(value.get("text") or value.get("link") or value.get("name") or "")
    if isinstance(value, list):
        return "".join(_text(v) for v in value)
    return str(value)


def _link(value: Any) -> str | None:
    """The first http(s) link in a cell: a URL cell's link, a link segment, or one written in text."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, Mapping) and str(item.get("link", "")).startswith(("http://", "https://")):
            return str(item["link"]).strip()
    match = _HTTP.search(_text(value))
    return match.group(0) if match else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = _NUMBER.search(_text(value).replace(",", "").replace("，", ""))
    return float(match.group(0)) if match else None


def _row(n: int, record: Mapping[str, Any], cols: ColumnMap, table_id: str) -> SourceRow | None:
    cells: Mapping[str, Any] = record.get("fields") or {}
    name = _text(cells.get(cols.name)).strip() if cols.name else ""
    raw_link = _text(cells.get(cols.link)).strip() if cols.link else ""
    files = cells.get(cols.attachment) if cols.attachment else None
    performance = {}
    for key, column in cols.performance.items():
        number = _number(cells.get(column))
        if number is not None and number >= 0:
            performance[key] = number
    if not (name or raw_link or files or performance):
        return None  # an empty row
    label = name or f"第 {n} 行"
    record_id = str(record.get("record_id") or "")
    url = _link(cells.get(cols.link)) if cols.link else None
    if url is not None:
        return SourceRow(n, record_id, label[:200], url=url, performance=performance or None)
    if isinstance(files, list) and files and isinstance(files[0], Mapping) and files[0].get("file_token"):
        first = files[0]
        attachment = {
            "file_token": str(first["file_token"]),
            "name": str(first.get("name") or "video"),
            "size": int(first.get("size") or 0),
            "table_id": table_id,
        }
        return SourceRow(n, record_id, label[:200], attachment=attachment, performance=performance or None)
    if raw_link:
        problem = f"“{raw_link[:100]}”不是 http(s) 链接"
    else:
        where = "、".join(c for c in (cols.link, cols.attachment) if c)
        problem = f"这一行没有视频链接（{where}为空）"
    return SourceRow(n, record_id, label[:200], performance=performance or None, problem=problem)


def rows_from_records(
    records: Iterable[Mapping[str, Any]], cols: ColumnMap, table_id: str = ""
) -> tuple[list[SourceRow], int]:
    """The rows of ``records`` (empty ones skipped) and how many were empty."""
    rows: list[SourceRow] = []
    empty = 0
    for n, record in enumerate(records, start=1):
        row = _row(n, record, cols, table_id)
        if row is None:
            empty += 1
        else:
            rows.append(row)
    return rows, empty


def _resolve(api: BitableApi, link: BitableLink) -> tuple[str, str]:
    """The Base's app token (through the wiki node API for a wiki link) and a title."""
    if not link.wiki:
        return link.token, ""
    node = api.wiki_node(link.token)
    if node["obj_type"] != "bitable":
        raise InvalidRequest(f"这个知识库页面不是多维表格（它是 {node['obj_type']}）")
    return str(node["obj_token"]), str(node["title"])


def read_bitable_source(
    api: BitableApi, url: str, mapping: Mapping[str, str] | None = None, *, fields_from_table: bool = False
) -> BitableSource:
    """Read the table a Base or wiki link names (every row; the view's order when it names a view).

    Raises:
        InvalidRequest: the link names no table, or the table has no name or link column.
        NotShared: the app may not read the table (the message says how to share it).
    """
    link = parse_bitable_link(url)
    if link.table_id is None:
        raise InvalidRequest(
            "多维表格链接里没有数据表（table=tbl…）：请打开要分析的数据表后复制浏览器地址栏的链接"
        )
    app_token, title = _resolve(api, link)
    title = api.table_name(app_token, link.table_id) or title
    fields = api.fields(app_token, link.table_id)
    cols = detect_columns(fields, mapping)
    rows, empty = rows_from_records(api.records(app_token, link.table_id, link.view_id), cols, link.table_id)
    analysis: list[FieldSpec] = []
    if fields_from_table:
        analysis = fields_from_bitable(f for f in fields if str(f.get("field_name")) not in cols.used)
    return BitableSource(title or "多维表格", link, app_token, link.table_id, cols, rows, empty, analysis)
