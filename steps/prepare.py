"""Prepare: validate the task's request and write its manifest (stable video ids, options with defaults).

Input ``{task_id}``; the request itself was stored as ``tasks/<task_id>/request.json`` by the front
door, or — a cloud submit from a machine without the workspace — rides in the input as ``request``
(``{task_id, request}``) and Prepare stores it there first (a stored request is kept: a retry of
the same execution finds it). Output ``{task_id, mode, video_ids, slices, max_concurrency}``.
Duplicate links stay in the manifest (``duplicate_of``) but are not in ``video_ids``.

CloudFlow fails an execution past 5,000 history events, and one video costs about 35 of them, so a
batch of more than :data:`SLICE_SIZE` videos is split: ``mode: split`` with ``slices`` ``[0, 1, …]``,
each run as a child execution of the same flow named ``<task_id>-part-<n>``. A child starts with
``{task_id, slice}``; Prepare then only reads the manifest the parent wrote and answers
``mode: slice`` with that slice's ``video_ids``. A batch that fits is ``mode: batch``. Every
execution works on the same task workspace: one progress card, one set of results.

A request whose videos are rows of a Bitable (``source.bitable``) is read here, once: a rerun keeps
the manifest of the first run. Rows without a usable link are in the manifest as failed videos
(``rejected``, with their reason recorded as their failure) and not in ``video_ids``.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field

from ._artifacts import ErrorInfo, save_artifact
from ._json import JsonInputError, loads_strict
from ._logging import get_logger
from ._manifest import Manifest, load_manifest
from ._progress import record_stage, record_task
from ._request import (
    VideoSource,
    assign_ids,
    options_from_request,
    sources_from_request,
    validate_request,
)
from ._runtime import StepContext, StepModel, step
from ._settings import Settings
from ._workspace import ID_PATTERN, TaskWorkspace, atomic_write_json
from .errors import InvalidRequest, NoVideoLink

__all__ = ["PrepareInput", "PrepareOutput", "handler", "run"]

log = get_logger(__name__)


SLICE_SIZE = 100  # videos per execution: ~35 events each, well under CloudFlow's 5,000 with retries
_CHILD = "{task_id}-part-{slice}"  # the flow names child executions so (format() in the flow YAML)


class PrepareInput(StepModel):
    task_id: str = Field(pattern=f"^{ID_PATTERN}$")
    request: dict[str, Any] | None = None  # the request itself, when the submitter had no workspace
    slice: int | None = Field(default=None, ge=0)  # set in a child execution of a split batch


class PrepareOutput(StepModel):
    task_id: str
    mode: Literal["batch", "split", "slice"]
    video_ids: list[str]  # the videos this execution's Map runs (none when split)
    slices: list[int]  # the child executions of a split batch
    max_concurrency: int


def _load_request(ws: TaskWorkspace) -> dict[str, Any]:
    if not ws.request.is_file():
        raise InvalidRequest(f"task {ws.task_id} has no request (expected {ws.request})")
    try:
        request = loads_strict(ws.request.read_bytes())
    except JsonInputError as exc:
        raise InvalidRequest(f"the request of task {ws.task_id} is not acceptable JSON: {exc}") from None
    validate_request(request)  # the schema requires an object, so ``request`` is a dict from here on
    if request.get("task_id", ws.task_id) != ws.task_id:
        raise InvalidRequest(f"task_id: {request['task_id']!r} does not match the task {ws.task_id!r}")
    return request


def _created_at(ws: TaskWorkspace) -> float:
    """Keep the first run's timestamp so a re-run writes the same manifest."""
    if ws.manifest.is_file():
        try:
            return load_manifest(ws).created_at
        except (ValueError, OSError):
            pass
    return time.time()


MAX_SOURCE_ROWS = 1000  # as many videos as a request may list


def _bitable_sources(request: dict[str, Any], settings: Settings) -> tuple[list[VideoSource], str, list[Any]]:
    """The rows of the request's Bitable as sources, the table's title, and its AI fields if asked."""
    from ._bitable import BitableApi, read_bitable_source
    from ._feishu import FeishuClient

    spec = request["source"]
    if not settings.feishu_configured:
        raise InvalidRequest("读取多维表格需要配置飞书应用凭证（FEISHU_APP_ID / FEISHU_APP_SECRET）")
    table = read_bitable_source(
        BitableApi(FeishuClient(settings)),
        spec["bitable"],
        spec.get("columns"),
        fields_from_table=bool(spec.get("fields_from_table")),
    )
    if not table.rows:
        raise InvalidRequest(f"多维表格里没有可分析的行（空行 {table.empty_rows} 行）")
    if len(table.rows) > MAX_SOURCE_ROWS:
        raise InvalidRequest(
            f"多维表格有 {len(table.rows)} 行，一次最多分析 {MAX_SOURCE_ROWS} 行："
            "请用视图筛选后分批发送视图链接"
        )
    sources = [
        VideoSource(
            name=row.name,
            url=row.url,
            attachment=row.attachment,
            performance=row.performance,
            rejected=row.problem,
            row=row.record_id,
        )
        for row in table.rows
    ]
    log.info("prepare.bitable_read", rows=len(sources), empty=table.empty_rows)
    return sources, table.title, table.analysis_fields


def _check_bitable_output(request: dict[str, Any], outputs: list[str], settings: Settings) -> None:
    """Refuse now a ``bitable`` output that Publish could not make after all the work is done."""
    if "bitable" not in outputs:
        return
    if not settings.feishu_configured:
        raise InvalidRequest(
            "输出 bitable（多维表格）需要配置飞书应用凭证（FEISHU_APP_ID / FEISHU_APP_SECRET）"
        )
    if not request.get("requester") and not settings.feishu_folder_token:
        raise InvalidRequest(
            "输出 bitable 需要 requester.open_id（飞书机器人会自动填写）或设置 FEISHU_FOLDER_TOKEN："
            "否则新建的多维表格只有应用自己能看到"
        )


def build_manifest(
    ws: TaskWorkspace, request: dict[str, Any], *, allow_paths: bool, settings: Settings | None = None
) -> Manifest:
    """The manifest of a validated request (``allow_paths``: local files, for the CLI only).

    A Bitable source is read with ``settings`` (the Feishu app) the first time; a rerun keeps the
    manifest already written, so the task's videos never change under it.
    """
    options = options_from_request(request)
    if settings is not None:
        _check_bitable_output(request, options.outputs, settings)
    title = request.get("title")
    if "source" in request:
        if ws.manifest.is_file():
            return load_manifest(ws)
        sources, table_title, fields = _bitable_sources(request, settings or Settings())
        title = title or table_title
        if fields:
            options.analysis.fields = fields[:30]
    else:
        sources = sources_from_request(request, allow_paths=allow_paths)
    return Manifest(
        task_id=ws.task_id,
        title=title,
        requester=(request.get("requester") or {}).get("open_id"),
        created_at=_created_at(ws),
        options=options,
        videos=assign_ids(sources),
    )


def _to_process(manifest: Manifest) -> list[str]:
    """The videos the flow processes: not duplicates, not rows without a usable link."""
    return [v.video_id for v in manifest.videos if v.duplicate_of is None and v.rejected is None]


def _slice(ws: TaskWorkspace, index: int) -> PrepareOutput:
    """A child execution's share of the batch, from the manifest its parent wrote."""
    if not ws.manifest.is_file():
        raise InvalidRequest(f"task {ws.task_id} has no manifest: slice {index} was started before Prepare")
    manifest = load_manifest(ws)
    video_ids = _to_process(manifest)
    share = video_ids[index * SLICE_SIZE : (index + 1) * SLICE_SIZE]
    if not share:
        raise InvalidRequest(f"task {ws.task_id} has {len(video_ids)} videos: there is no slice {index}")
    log.info("prepare.slice", slice=index, videos=len(share))
    return PrepareOutput(
        task_id=ws.task_id,
        mode="slice",
        video_ids=share,
        slices=[],
        max_concurrency=manifest.options.max_concurrency,
    )


def run(inp: PrepareInput, ctx: StepContext) -> PrepareOutput:
    """Validate the request, write ``manifest.json`` and the initial progress state."""
    ws = ctx.workspace(inp.task_id)
    if inp.slice is not None:
        return _slice(ws, inp.slice)
    if inp.request is not None and not ws.request.is_file():
        validate_request(inp.request)
        atomic_write_json(ws.request, inp.request)
    settings = ctx.settings
    manifest = build_manifest(
        ws, _load_request(ws), allow_paths=settings.allow_local_paths, settings=settings
    )
    atomic_write_json(ws.manifest, manifest.model_dump(mode="json"))
    video_ids = _to_process(manifest)
    rejected = [v for v in manifest.videos if v.rejected is not None]
    duplicates = len(manifest.videos) - len(video_ids) - len(rejected)
    for video_id in video_ids:  # the initial state: reporters hear of it once, from the task update
        record_stage(ws, video_id, "fetch", "pending")
    for entry in rejected:  # listed as failed from the start, with the reason
        error = ErrorInfo(code=NoVideoLink.code, message=str(entry.rejected), step="prepare")
        save_artifact(ws.make_video_dir(entry.video_id), error)
        record_stage(ws, entry.video_id, "fetch", "failed", {"code": error.code, "message": error.message})
    record_task(
        ws,
        phase="processing",
        total=len(video_ids) + len(rejected),
        duplicates=duplicates,
        title=manifest.title,
        sink=ctx.progress,
    )
    log.info("prepare.manifest_written", videos=len(video_ids), duplicates=duplicates)
    slices = list(range(-(-len(video_ids) // SLICE_SIZE)))
    if len(slices) > 1:
        longest = _CHILD.format(task_id=inp.task_id, slice=slices[-1])
        if len(longest) > 128:
            raise InvalidRequest(
                f"task id {inp.task_id!r} is too long to name child executions ({longest!r} is over 128)"
            )
        return PrepareOutput(
            task_id=inp.task_id,
            mode="split",
            video_ids=[],
            slices=slices,
            max_concurrency=manifest.options.max_concurrency,
        )
    return PrepareOutput(
        task_id=inp.task_id,
        mode="batch",
        video_ids=video_ids,
        slices=[],
        max_concurrency=manifest.options.max_concurrency,
    )


handler = step("prepare", PrepareInput)(run)
