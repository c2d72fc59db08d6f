"""Bitable out: a new Base per task with the tables ``视频分析`` and ``分镜``, owned by who asked.

The tables have the columns of the workbook (:mod:`steps._outputs.columns`) with real field types:
URL for links, numbers with a format for metrics (times in seconds), single and multi select,
attachments for the contact sheet and keyframes (uploaded into the Base), a date for when the task
was analysed.

A Publish that is retried after a crash or a timeout writes nothing twice: every finished piece
(the Base, each table, each uploaded file, each batch of rows) is recorded in ``out/bitable.json``
as soon as it exists, and each batch of ≤ 500 rows carries a ``client_token`` derived from the
task, the table and the batch, so a batch that reached Feishu before the crash is not written again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._logging import get_logger
from .._workspace import atomic_write_json, inside, read_json
from ..errors import FeishuError
from ._api import MAX_BATCH, BitableApi, client_token

if TYPE_CHECKING:
    from .._outputs.collect import Results
    from .._outputs.columns import Column
    from .._publishers import Destination

__all__ = ["STATE_FILE", "BitablePublisher", "field_spec", "publish_bitable"]

STATE_FILE = "bitable.json"
_BASE_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")  # the Bases' time zone (no daylight saving)
MAX_TEXT = 50_000
log = get_logger(__name__)
_NUMBER_FORMATS = {"time": "0.00", "percent": "0.00%", "rate": "0"}
_DESCRIPTIONS = {"time": "单位：秒", "rate": "字/分钟（英文：词/分钟）"}


def field_spec(col: Column, values: Sequence[Any]) -> dict[str, Any]:
    """The Bitable field of a column: its type and property (formats, options)."""
    spec: dict[str, Any] = {"field_name": col.header, "type": 1}
    if col.kind == "multi" or col.options:
        spec["type"] = 4 if col.kind == "multi" else 3
        spec["property"] = {"options": [{"name": o} for o in col.options]} if col.options else None
    elif col.kind in ("number", "time", "percent", "rate"):
        spec["type"] = 2
        whole = all(isinstance(v, int) and not isinstance(v, bool) for v in values if v is not None)
        spec["property"] = {"formatter": _NUMBER_FORMATS.get(col.kind, "0" if whole else "0.00")}
    elif col.kind == "image":
        spec["type"] = 17
    elif col.kind == "link":
        spec["type"] = 15
    elif col.kind == "datetime":
        spec["type"] = 5
        spec["property"] = {"date_formatter": "yyyy/MM/dd HH:mm", "auto_fill": False}
    if col.kind in _DESCRIPTIONS:
        spec["description"] = {"text": _DESCRIPTIONS[col.kind]}
    return {k: v for k, v in spec.items() if v is not None}


def _cell(col: Column, value: Any, files: Mapping[str, str]) -> Any:
    """The Bitable value of one cell (``None``: leave it empty)."""
    if value is None or value == "" or value == []:
        return None
    if col.kind == "multi":
        return [str(v) for v in value]
    if col.options:
        return str(value)
    if col.kind in ("number", "time", "percent", "rate"):
        number = float(value) if not isinstance(value, int) else value
        return round(number, 4 if col.kind == "percent" else 2) if isinstance(number, float) else number
    if col.kind == "image":
        token = files.get(str(value))
        return [{"file_token": token}] if token else None
    if col.kind == "link":
        text = str(value)
        return {"text": text[:1000], "link": text} if text.startswith(("http://", "https://")) else None
    if col.kind == "datetime" and isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    text = str(value)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


@dataclass(frozen=True)
class _Table:
    name: str
    columns: list[Column]
    rows: list[Any]


class _State:
    """``out/bitable.json``: what earlier runs of this Publish already made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: dict[str, Any] = dict(read_json(path)) if path.is_file() else {}
        except (OSError, ValueError):
            self.data = {}
        self.data.setdefault("tables", {})
        self.data.setdefault("files", {})
        self.data.setdefault("batches", {})

    def save(self) -> None:
        atomic_write_json(self.path, self.data)


def _tables(results: Results) -> list[_Table]:
    from .._outputs.columns import SHOT_COLUMNS, SHOTS_SHEET, VIDEOS_SHEET, shot_rows, video_columns

    return [
        _Table(VIDEOS_SHEET, video_columns(results), list(results.videos)),
        _Table(SHOTS_SHEET, list(SHOT_COLUMNS), shot_rows(results)),
    ]


def _base_name(results: Results) -> str:
    """The task's title and the day it was accepted, in the Base's time zone."""
    day = results.created_at.astimezone(_BASE_TZ).strftime("%Y-%m-%d")
    return f"{results.title} {day}"


def publish_bitable(
    results: Results,
    out_dir: Path,
    api: BitableApi,
    *,
    requester: str | None = None,
    folder_token: str = "",
    transfer_owner: bool = True,
) -> str:
    """Write ``results`` into a new Base (or the one an earlier run of this task made); its URL."""
    state = _State(out_dir / STATE_FILE)
    data = state.data
    if "app_token" not in data:
        made = api.create_app(_base_name(results), folder_token)
        data.update(app_token=made["app_token"], url=made["url"], default_table_id=made["default_table_id"])
        state.save()
        log.info("bitable.created", app_token=made["app_token"])
    app = str(data["app_token"])
    if requester and not data.get("shared"):
        api.grant_full_access(app, requester)  # at once: the requester can watch the rows arrive
        data["shared"] = True
        state.save()
    for table in _tables(results):
        _fill_table(api, state, results.task_id, table, out_dir)
    if data.get("default_table_id"):
        api.delete_table(app, str(data["default_table_id"]))
        data["default_table_id"] = ""
        state.save()
    if requester and transfer_owner and "owner" not in data:
        try:
            api.transfer_owner(app, requester)
            data["owner"] = requester
        except FeishuError as exc:  # e.g. a user of another tenant: they keep full access, the app owns it
            log.warning("bitable.transfer_refused", app_token=app, error=exc.message)
            data["owner"] = ""
            data["owner_error"] = exc.message
        state.save()
    elif not requester:
        log.warning("bitable.no_requester", app_token=app, hint="the Base stays in the app's space")
    return str(data["url"])


def _fill_table(api: BitableApi, state: _State, task_id: str, table: _Table, out_dir: Path) -> None:
    data = state.data
    app = str(data["app_token"])
    values = [[col.value(row) for col in table.columns] for row in table.rows]
    if table.name not in data["tables"]:
        specs = [field_spec(col, [v[i] for v in values]) for i, col in enumerate(table.columns)]
        data["tables"][table.name] = api.create_table(app, table.name, specs)
        state.save()
    table_id = str(data["tables"][table.name])
    files: dict[str, str] = data["files"]
    for i, col in enumerate(table.columns):
        if col.kind != "image":
            continue
        for rel in {str(v[i]) for v in values if v[i]} - set(files):
            path = inside(out_dir, rel)
            if path.is_file():
                files[rel] = api.upload(app, path)
                state.save()
            else:
                log.warning("bitable.image_missing", path=rel)
    rows = [
        {
            col.header: cell
            for col, v in zip(table.columns, row, strict=True)
            if (cell := _cell(col, v, files)) is not None
        }
        for row in values
    ]
    done = int(data["batches"].get(table.name, 0))
    batches = [rows[i : i + MAX_BATCH] for i in range(0, len(rows), MAX_BATCH)]
    for n in range(done, len(batches)):
        token = client_token(task_id, app, table.name, str(n), str(len(batches)))
        api.add_records(app, table_id, batches[n], token)
        data["batches"][table.name] = n + 1
        state.save()
    log.info("bitable.table_written", table=table.name, rows=len(rows), batches=len(batches))


@dataclass(frozen=True)
class BitablePublisher:
    """The ``bitable`` output: a new Base per task, owned by (or shared with) the person who asked."""

    name: str = "bitable"
    description: str = (
        "a Feishu Base (多维表格) with the tables 视频分析 and 分镜, owned by the requester "
        "(needs FEISHU_APP_ID / FEISHU_APP_SECRET); the link is the output"
    )
    default: bool = False
    local: bool = False

    def publish(self, results: Results, to: Destination) -> str:
        from .._feishu import FeishuClient

        if to.settings is None or not to.settings.feishu_configured:
            raise FeishuError("写入多维表格需要配置飞书应用凭证（FEISHU_APP_ID / FEISHU_APP_SECRET）")
        api = BitableApi(FeishuClient(to.settings))
        return publish_bitable(
            results,
            to.out_dir,
            api,
            requester=to.requester,
            folder_token=to.settings.feishu_folder_token,
            transfer_owner=to.settings.feishu_transfer_owner,
        )
