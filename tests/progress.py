"""A small task with recorded progress, shared by the progress model's and the display's tests."""

from __future__ import annotations

import time
from pathlib import Path

from steps import (
    Manifest,
    Options,
    ProgressSink,
    TaskWorkspace,
    VideoEntry,
    atomic_write_json,
    record_stage,
    record_task,
)

__all__ = ["NAMES", "advance", "progress_task"]

NAMES = {"v1": "Lumen bottle", "v2": "Stride shoes", "v3": "Broken upload"}


def progress_task(root: Path) -> TaskWorkspace:
    """Task ``task_1`` "Example batch": three videos (``NAMES``) waiting to be fetched."""
    ws = TaskWorkspace(root, "task_1")
    manifest = Manifest(
        task_id="task_1",
        title="Example batch",
        created_at=time.time(),
        options=Options(),
        videos=[VideoEntry(video_id=k, name=v, path=f"/x/{k}.mp4") for k, v in NAMES.items()],
    )
    atomic_write_json(ws.manifest, manifest.model_dump(mode="json"))
    record_task(ws, phase="processing", total=3, title="Example batch")
    for video_id in NAMES:
        record_stage(ws, video_id, "fetch", "pending")
    return ws


def advance(ws: TaskWorkspace, sink: ProgressSink | None = None) -> None:
    """v1 transcribing, v2 done, v3 failed at media."""
    for vid in NAMES:
        record_stage(ws, vid, "fetch", "ok", sink=sink)
    record_stage(ws, "v1", "media", "ok", sink=sink)
    record_stage(ws, "v1", "transcribe", "running", sink=sink)
    for stage in ("media", "transcribe", "shots", "ocr", "analyze"):
        record_stage(ws, "v2", stage, "ok", sink=sink)
    error = {"code": "CorruptVideo", "message": "moov atom not found"}
    record_stage(ws, "v3", "media", "failed", error, sink=sink)
