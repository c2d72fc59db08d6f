"""Per-video progress state in the workspace; drives the terminal display and the Feishu card.

Recording progress never fails a step: I/O errors are logged and swallowed here, and a stage that
finished never moves back to running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from ._logging import get_logger
from ._workspace import TaskWorkspace, atomic_write_json, read_json

__all__ = ["STAGES", "load_progress", "record_stage", "record_task", "summarize"]

# Stages of one video, in flow order; "publish" is task-wide and lives in _task.json.
STAGES = ("fetch", "media", "transcribe", "shots", "analyze")
_RANK = {"pending": 0, "running": 1, "ok": 2, "skipped": 2, "failed": 2}
_TASK_FILE = "_task.json"
# Read-modify-write of one file: the Parallel branches (Transcribe, Shots) update the same video
# at the same time, and an unguarded write loses the other's update.
_WRITE_LOCK = threading.Lock()
log = get_logger(__name__)


def _load(path: Any) -> dict[str, Any]:
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
) -> None:
    """Set ``stage`` of ``video_id`` to ``status`` (pending/running/ok/skipped/failed)."""
    try:
        with _WRITE_LOCK:
            _update_stage(ws, video_id, stage, status, error)
    except Exception as exc:  # progress must never fail a step
        log.warning("progress.write_failed", video_id=video_id, stage=stage, error=str(exc))


def _update_stage(
    ws: TaskWorkspace, video_id: str, stage: str, status: str, error: dict[str, str] | None
) -> None:
    path = ws.progress_dir / f"{video_id}.json"
    state = _load(path) or {"video_id": video_id, "stages": {}}
    current = state["stages"].get(stage, "pending")
    if _RANK.get(status, 0) < _RANK.get(current, 0):
        return
    state["stages"][stage] = status
    state["current"] = stage if status == "running" else state.get("current")
    if status in ("ok", "skipped", "failed") and state.get("current") == stage:
        state["current"] = None
    if error is not None:
        state["error"] = {**error, "stage": stage}
    state["updated_at"] = time.time()
    atomic_write_json(path, state)


def record_task(ws: TaskWorkspace, **fields: Any) -> None:
    """Merge ``fields`` (phase, total, outputs, error …) into the task-level progress."""
    try:
        path = ws.progress_dir / _TASK_FILE
        with _WRITE_LOCK:
            state = _load(path)
            state.update(fields)
            state["updated_at"] = time.time()
            atomic_write_json(path, state)
    except Exception as exc:
        log.warning("progress.write_failed", task_id=ws.task_id, error=str(exc))


def load_progress(ws: TaskWorkspace) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The task-level state and every video's state."""
    task: dict[str, Any] = {}
    videos: list[dict[str, Any]] = []
    if not ws.progress_dir.is_dir():
        return task, videos
    for path in sorted(ws.progress_dir.glob("*.json")):
        if path.name == _TASK_FILE:
            task = _load(path)
        else:
            data = _load(path)
            if data:
                videos.append(data)
    return task, videos


def summarize(videos: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Counts per stage: ``{"fetch": {"ok": 3, "failed": 1, "running": 0}, ...}``."""
    out = {stage: {"ok": 0, "failed": 0, "running": 0, "skipped": 0} for stage in STAGES}
    for video in videos:
        for stage, status in video.get("stages", {}).items():
            if stage in out and status in out[stage]:
                out[stage][status] += 1
    return out
