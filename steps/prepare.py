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
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import Field

from ._json import JsonInputError, loads_strict
from ._logging import get_logger
from ._manifest import Manifest, load_manifest
from ._progress import record_stage, record_task
from ._request import assign_ids, options_from_request, sources_from_request, validate_request
from ._runtime import StepContext, StepModel, step
from ._workspace import ID_PATTERN, TaskWorkspace, atomic_write_json
from .errors import InvalidRequest

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


def build_manifest(ws: TaskWorkspace, request: dict[str, Any], *, allow_paths: bool) -> Manifest:
    """The manifest of a validated request (``allow_paths``: local files, for the CLI only)."""
    return Manifest(
        task_id=ws.task_id,
        title=request.get("title"),
        requester=(request.get("requester") or {}).get("open_id"),
        created_at=_created_at(ws),
        options=options_from_request(request),
        videos=assign_ids(sources_from_request(request, allow_paths=allow_paths)),
    )


def _slice(ws: TaskWorkspace, index: int) -> PrepareOutput:
    """A child execution's share of the batch, from the manifest its parent wrote."""
    if not ws.manifest.is_file():
        raise InvalidRequest(f"task {ws.task_id} has no manifest: slice {index} was started before Prepare")
    manifest = load_manifest(ws)
    video_ids = [v.video_id for v in manifest.videos if v.duplicate_of is None]
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
    manifest = build_manifest(ws, _load_request(ws), allow_paths=ctx.settings.allow_local_paths)
    atomic_write_json(ws.manifest, manifest.model_dump(mode="json"))
    video_ids = [v.video_id for v in manifest.videos if v.duplicate_of is None]
    duplicates = len(manifest.videos) - len(video_ids)
    for video_id in video_ids:  # the initial state: reporters hear of it once, from the task update
        record_stage(ws, video_id, "fetch", "pending")
    record_task(
        ws,
        phase="processing",
        total=len(video_ids),
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
