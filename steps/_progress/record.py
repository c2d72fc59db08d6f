"""Per-video progress state in the workspace: the durable record every progress renderer reads.

Each stage of each video has its own small file, ``progress/<video_id>/<stage>.json``, written only
by the step that runs that stage. Steps of one video run at the same time (the Parallel branches,
and in the cloud on different machines over a shared mount), so nothing is read-modified-written
across stages and no update can be lost. :func:`load_progress` merges them per video.

Recording progress never fails a step: I/O errors are logged and swallowed here, and a stage that
finished never moves back to running. What was written is then handed to the ``sink``, if any.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._logging import get_logger
from .._workspace import TaskWorkspace, atomic_write_json, read_json, valid_id
from .sink import ProgressSink, ProgressUpdate

__all__ = [
    "OPTIONAL_STAGES",
    "STAGES",
    "StageCounts",
    "load_progress",
    "load_video_progress",
    "record_stage",
    "record_task",
    "settle_optional_stages",
    "summarize",
]

# Stages of one video, in flow order; "publish" is task-wide and lives in _task.json.
STAGES = ("fetch", "media", "transcribe", "shots", "ocr", "analyze")
# Stages whose failure the flow catches (the video goes on without them): one that fails for good,
# or is still running when the video moves on, ends as skipped with the reason, never as failed.
OPTIONAL_STAGES = ("ocr",)
_RANK = {"pending": 0, "running": 1, "ok": 2, "skipped": 2, "failed": 2}
_TASK_FILE = "_task.json"
_TASK_LOCK = threading.Lock()  # task-level fields are merged (Prepare, Publish, Finish, the CLI)
log = get_logger(__name__)


def _load(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = read_json(path)
        return data
    except (OSError, ValueError):
        return {}


def record_stage(
    ws: TaskWorkspace,
    video_id: str,
    stage: str,
    status: str,
    error: dict[str, str] | None = None,
    *,
    sink: ProgressSink | None = None,
) -> None:
    """Set ``stage`` of ``video_id`` to ``status`` (pending/running/ok/skipped/failed), then tell ``sink``.

    A status ranked below the recorded one (running after ok) is dropped: progress never moves back.
    """
    try:
        if not valid_id(video_id) or stage not in STAGES:
            raise ValueError(f"unknown video {video_id!r} or stage {stage!r}")
        path = ws.progress_dir / video_id / f"{stage}.json"
        current = _load(path).get("status", "pending")
        if _RANK.get(status, 0) < _RANK.get(current, 0):
            return
        record: dict[str, Any] = {"status": status, "at": time.time()}
        if error is not None:
            record["error"] = {**error, "stage": stage}
        atomic_write_json(path, record)
    except Exception as exc:  # progress must never fail a step
        log.warning("progress.write_failed", video_id=video_id, stage=stage, error=str(exc))
        return
    if sink is not None:
        update = ProgressUpdate(ws, video_id, stage, status, record.get("error"), at=record["at"])
        sink.publish(update)


def record_task(ws: TaskWorkspace, *, sink: ProgressSink | None = None, **fields: Any) -> None:
    """Merge ``fields`` (phase, total, outputs, error …) into the task-level progress, then tell ``sink``.

    The first record of a task also stores ``started_at``, the start of its elapsed time.
    """
    try:
        path = ws.progress_dir / _TASK_FILE
        with _TASK_LOCK:
            state = _load(path)
            state.update(fields)
            state["updated_at"] = time.time()
            state.setdefault("started_at", state["updated_at"])
            atomic_write_json(path, state)
    except Exception as exc:
        log.warning("progress.write_failed", task_id=ws.task_id, error=str(exc))
        return
    if sink is not None:
        sink.publish(ProgressUpdate(ws, fields=dict(fields), at=state["updated_at"]))


def _video_state(folder: Path) -> dict[str, Any]:
    state: dict[str, Any] = {"video_id": folder.name, "stages": {}, "current": None, "updated_at": 0.0}
    running_since = -1.0
    for stage in STAGES:
        record = _load(folder / f"{stage}.json")
        if not record:
            continue
        status, at = record.get("status", "pending"), float(record.get("at", 0.0))
        state["stages"][stage] = status
        state["updated_at"] = max(state["updated_at"], at)
        if status == "running" and at >= running_since:
            state["current"], running_since = stage, at
        if "error" in record and status in ("failed", "running"):  # the end, or why it is retrying
            state["error"] = record["error"]
    return state


def settle_optional_stages(ws: TaskWorkspace, video_id: str, *, sink: ProgressSink | None = None) -> None:
    """Mark the optional stages that never ended (their step gave up after its retries, and the flow
    went on without it) as skipped, keeping the reason their last attempt recorded."""
    for stage in OPTIONAL_STAGES:
        record = _load(ws.progress_dir / video_id / f"{stage}.json")
        if record.get("status", "pending") in ("pending", "running"):
            error = record.get("error") or {"code": "NotRun", "message": "this step did not finish"}
            record_stage(
                ws, video_id, stage, "skipped", {k: v for k, v in error.items() if k != "stage"}, sink=sink
            )


def load_video_progress(ws: TaskWorkspace, video_id: str) -> dict[str, Any]:
    """One video's state (``{video_id, stages, current, error?}``), reading only its own files."""
    return _video_state(ws.progress_dir / video_id)


def load_progress(ws: TaskWorkspace) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The task-level state and every video's state (``{video_id, stages, current, error?}``)."""
    if not ws.progress_dir.is_dir():
        return {}, []
    task = _load(ws.progress_dir / _TASK_FILE)
    videos = [
        _video_state(folder)
        for folder in sorted(ws.progress_dir.iterdir())
        if folder.is_dir() and valid_id(folder.name)
    ]
    return task, [v for v in videos if v["stages"]]


@dataclass(frozen=True)
class StageCounts:
    """How many videos are at each status of one stage."""

    ok: int = 0
    failed: int = 0
    running: int = 0
    skipped: int = 0

    @property
    def done(self) -> int:
        """Videos for which the stage ended well (ok or skipped)."""
        return self.ok + self.skipped


def summarize(videos: Iterable[dict[str, Any]]) -> dict[str, StageCounts]:
    """Counts per stage of the states :func:`load_progress` returns, for every stage in ``STAGES``."""
    out = {stage: {"ok": 0, "failed": 0, "running": 0, "skipped": 0} for stage in STAGES}
    for video in videos:
        for stage, status in video.get("stages", {}).items():
            if stage in out and status in out[stage]:
                out[stage][status] += 1
    return {stage: StageCounts(**counts) for stage, counts in out.items()}
