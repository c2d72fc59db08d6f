"""Build a task workspace by hand (manifest + fetch.json + stored file) to run one step in tests."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path
from typing import Any

from steps import FetchRecord, Manifest, Options, Settings, TaskWorkspace, VideoEntry, save_artifact
from steps._workspace import atomic_write_json

__all__ = ["make_task", "write_manifest"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(settings: Settings, task_id: str, videos: dict[str, str]) -> TaskWorkspace:
    """A workspace whose manifest lists ``videos`` (video id → local path), as if only Prepare had run."""
    ws = TaskWorkspace(settings.workspace, task_id)
    entries = [VideoEntry(video_id=v, name=f"{v}.mp4", path=p) for v, p in videos.items()]
    manifest = Manifest(task_id=task_id, created_at=time.time(), options=Options(), videos=entries)
    atomic_write_json(ws.manifest, manifest.model_dump(mode="json"))
    return ws


def make_task(
    settings: Settings,
    videos: list[Path],
    options: dict[str, Any] | None = None,
    *,
    task_id: str = "t1",
) -> tuple[TaskWorkspace, list[str]]:
    """A workspace holding ``videos`` as if Prepare and Fetch had run.

    Writes ``manifest.json`` (``options`` validated by :class:`Options`), and for each video copies
    the file to ``videos/<id>/source.<ext>`` with its ``fetch.json``. Returns the workspace and the
    video ids (``v1``, ``v2``, … in order).
    """
    ws = TaskWorkspace(settings.workspace, task_id)
    entries: list[VideoEntry] = []
    for i, path in enumerate(videos, start=1):
        video_id = f"v{i}"
        entries.append(VideoEntry(video_id=video_id, name=path.name, path=str(path)))
        stored = ws.make_video_dir(video_id) / f"source{path.suffix or '.bin'}"
        shutil.copyfile(path, stored)
        record = FetchRecord(
            source=str(path), path=stored.name, sha256=_sha256(stored), bytes=stored.stat().st_size
        )
        save_artifact(stored.parent, record)
    manifest = Manifest(
        task_id=task_id,
        created_at=time.time(),
        options=Options.model_validate(options or {}),
        videos=entries,
    )
    atomic_write_json(ws.manifest, manifest.model_dump(mode="json"))
    return ws, [e.video_id for e in entries]
