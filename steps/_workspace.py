"""The task workspace: one folder per task, shared by every step (an OSS/NAS mount in the cloud).

Layout::

    tasks/<task_id>/request.json      the batch as submitted
    tasks/<task_id>/manifest.json     videos with stable ids and validated options (Prepare)
    tasks/<task_id>/progress/<video_id>/<stage>.json, _task.json
    tasks/<task_id>/videos/<video_id>/...   artifacts of each step
    tasks/<task_id>/summary.json      the batch summary (Summarize)
    tasks/<task_id>/slots/<group>/    per-task limits on concurrent work (model calls)
    tasks/<task_id>/out/              results.json, report.xlsx, report.html, media/
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InvalidStepInput

__all__ = [
    "ID_PATTERN",
    "TaskWorkspace",
    "atomic_copy",
    "atomic_write_bytes",
    "atomic_write_json",
    "inside",
    "read_json",
    "valid_id",
]

ID_PATTERN = r"[A-Za-z_][A-Za-z0-9_-]{0,127}"  # a CloudFlow name, and a safe folder name
_ID = re.compile(ID_PATTERN)


def valid_id(value: str) -> bool:
    """True for ids safe to use as a folder name and a CloudFlow execution name."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def inside(base: Path, rel: str) -> Path:
    """``base / rel`` if it stays inside ``base`` once links and ``..`` are resolved; else ValueError."""
    target = (base / rel).resolve()
    if not target.is_relative_to(base.resolve()):
        raise ValueError(f"path {rel!r} leaves {base}")
    return target


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file and a rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_copy(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` through a temp file and a rename: ``dest`` is whole or untouched."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copy2(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as pretty UTF-8 JSON, atomically."""
    atomic_write_bytes(path, json.dumps(obj, ensure_ascii=False, indent=2).encode("utf-8"))


def read_json(path: Path) -> Any:
    """Read a JSON file written by :func:`atomic_write_json`."""
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class TaskWorkspace:
    """Paths of one task's workspace under ``root``."""

    root: Path
    task_id: str

    def __post_init__(self) -> None:
        if not valid_id(self.task_id):
            raise InvalidStepInput(f"invalid task id {self.task_id!r}: use letters, digits, '_' and '-'")

    @property
    def dir(self) -> Path:
        return self.root / "tasks" / self.task_id

    @property
    def request(self) -> Path:
        return self.dir / "request.json"

    @property
    def manifest(self) -> Path:
        return self.dir / "manifest.json"

    @property
    def progress_dir(self) -> Path:
        return self.dir / "progress"

    @property
    def out(self) -> Path:
        return self.dir / "out"

    @property
    def summary(self) -> Path:
        return self.dir / "summary.json"

    def video_dir(self, video_id: str) -> Path:
        """The folder holding one video's artifacts (a path only: it may not exist yet)."""
        if not valid_id(video_id):
            raise InvalidStepInput(f"invalid video id {video_id!r}")
        return self.dir / "videos" / video_id

    def make_video_dir(self, video_id: str) -> Path:
        """:meth:`video_dir`, created if missing: for a step about to write into it."""
        path = self.video_dir(video_id)
        path.mkdir(parents=True, exist_ok=True)
        return path
