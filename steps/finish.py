"""Finish (and Abort): count the outcome, record the final progress, delete temporary media.

Input is ``{task_id}`` after Publish, or ``{task_id, error: {Code, Detail}}`` on the Abort path
(Prepare or Publish failed for good). A video counts as ok when it has ``analysis.json`` and no
``failure.json``; every other video of the manifest counts as failed. Safe to run again: cleanup
keeps the JSON artifacts the counts are computed from.
"""

from __future__ import annotations

import time
from typing import Literal

from ._artifacts import ARTIFACT_FILES, AnalysisRecord, ErrorInfo, load_artifact
from ._cleanup import clean_task_media
from ._logging import get_logger
from ._manifest import load_manifest
from ._progress import record_task
from ._runtime import StepContext, StepModel, step
from ._workspace import TaskWorkspace
from .record_failure import CaughtError, friendly_message

__all__ = ["FinishCounts", "FinishInput", "FinishOutput", "count_outcomes", "handler", "run"]

log = get_logger(__name__)


class FinishInput(StepModel):
    task_id: str
    error: CaughtError | None = None


class FinishCounts(StepModel):
    total: int
    ok: int
    failed: int


class FinishOutput(StepModel):
    task_id: str
    status: Literal["succeeded", "failed"]
    counts: FinishCounts


def count_outcomes(ws: TaskWorkspace) -> FinishCounts:
    """Ok and failed videos of the task (duplicates are not counted: they were never processed)."""
    if not ws.manifest.is_file():
        return FinishCounts(total=0, ok=0, failed=0)  # Prepare never wrote a manifest
    entries = [v for v in load_manifest(ws).videos if v.duplicate_of is None]
    ok = 0
    for entry in entries:
        folder = ws.dir / "videos" / entry.video_id
        failed = (folder / ARTIFACT_FILES[ErrorInfo]).exists()
        if not failed and load_artifact(folder, AnalysisRecord) is not None:
            ok += 1
    return FinishCounts(total=len(entries), ok=ok, failed=len(entries) - ok)


def run(inp: FinishInput, ctx: StepContext) -> FinishOutput:
    """Record the task's final state and, when enabled, delete its temporary media."""
    ws = ctx.workspace(inp.task_id)
    counts = count_outcomes(ws)
    status: Literal["succeeded", "failed"] = "failed" if inp.error else "succeeded"
    error = None
    if inp.error is not None:
        error = {"code": inp.error.Code, "message": friendly_message(inp.error.Code, inp.error.Detail)}
    record_task(
        ws,
        phase="finished" if status == "succeeded" else "failed",
        counts=counts.model_dump(),
        error=error,
        finished_at=time.time(),
        sink=ctx.progress,
    )
    if ctx.settings.temp_cleanup_enabled:
        stats = clean_task_media(ws)
        log.info("finish.cleaned", files=stats.files, bytes=stats.bytes)
    log.info("finish.done", status=status, ok=counts.ok, failed=counts.failed, total=counts.total)
    return FinishOutput(task_id=inp.task_id, status=status, counts=counts)


handler = step("finish", FinishInput)(run)
