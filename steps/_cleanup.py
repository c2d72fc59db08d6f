"""Disk hygiene: a task's temporary media after Finish, and whole stale task workspaces.

``video-insight clean --older-than 24h`` (and, in the cloud, a timer) calls :func:`clean_workspace`;
the CLI adds what only it knows: tasks whose local execution still runs are kept.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ._logging import get_logger
from ._workspace import TaskWorkspace, valid_id

__all__ = ["CleanupStats", "clean_task_media", "clean_workspace", "parse_duration"]

log = get_logger(__name__)
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
# Small text artifacts kept after cleanup: counts, failure reasons and audits still read them.
KEEP_SUFFIXES = (".json", ".srt", ".vtt")


def parse_duration(text: str) -> float:
    """Seconds in ``"24h"``, ``"90m"``, ``"7d"``, ``"3600s"``, ``"1h30m"`` (units s, m, h, d, w)."""
    shown = text if len(text) <= 40 else f"{text[:37]}..."
    compact = re.sub(r"\s+", "", text.lower())
    parts = _PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(
            f"invalid duration {shown!r}: use a number and a unit (s, m, h, d, w), e.g. 24h, 90m, 7d"
        )
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not math.isfinite(seconds):  # "9" * 400 + "s" overflows a float: inf
        raise ValueError(f"invalid duration {shown!r}: too large")
    return seconds


@dataclass(frozen=True)
class CleanupStats:
    """What :func:`clean_task_media` removed."""

    files: int = 0
    bytes: int = 0


def clean_task_media(ws: TaskWorkspace) -> CleanupStats:
    """Delete the media under ``videos/`` (downloads, WAVs, frames); keep JSON/SRT/VTT artifacts.

    Publish has already copied what the outputs use into ``out/media/``; ``out/``,
    ``manifest.json``, ``request.json`` and ``progress/`` are untouched. Running it twice is safe.
    """
    root = ws.dir / "videos"
    files = size = 0
    if not root.is_dir():
        return CleanupStats()
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in filenames:
            path = Path(dirpath) / name
            if name.endswith(KEEP_SUFFIXES) and not name.startswith("."):
                continue
            try:
                size += path.lstat().st_size
                path.unlink()
                files += 1
            except FileNotFoundError:
                continue
        for name in dirnames:
            with contextlib.suppress(OSError):  # removes only empty folders (frames/, keyframes/)
                (Path(dirpath) / name).rmdir()
    return CleanupStats(files=files, bytes=size)


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    for dirpath, dirnames, filenames in os.walk(path):
        for name in (*dirnames, *filenames):
            try:
                newest = max(newest, (Path(dirpath) / name).lstat().st_mtime)
            except FileNotFoundError:
                continue
    return newest


def clean_workspace(
    root: Path, older_than_s: float, now: float | None = None, *, keep: Callable[[str], bool] | None = None
) -> list[str]:
    """Remove task workspaces untouched for ``older_than_s`` seconds; returns the removed task ids.

    ``keep(task_id)`` may veto a removal (the CLI keeps tasks whose execution still runs).
    """
    tasks = root / "tasks"
    if not tasks.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - older_than_s
    removed: list[str] = []
    for folder in sorted(tasks.iterdir()):
        if folder.is_symlink() or not folder.is_dir() or not valid_id(folder.name):
            continue
        newest = _newest_mtime(folder)
        if newest >= cutoff:
            continue
        if keep is not None and keep(folder.name):
            log.info("cleanup.kept_running", task_id=folder.name)
            continue
        shutil.rmtree(folder)
        removed.append(folder.name)
        log.info("cleanup.task_removed", task_id=folder.name, idle_s=round(cutoff + older_than_s - newest))
    return removed
