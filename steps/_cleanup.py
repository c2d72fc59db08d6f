"""Disk hygiene: a task's temporary media after Finish, and whole stale task workspaces.

``video-insight clean --older-than 24h`` (and, in the cloud, a timer) calls :func:`clean_workspace`;
the CLI adds what only it knows: tasks whose local execution still runs are kept.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import stat
import time
from collections.abc import Callable, Iterator
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
    Symbolic links are never followed: a link is removed as a link, and a ``tasks``, task or
    ``videos`` folder that is a link is left alone, so nothing outside the workspace is deleted.
    """
    files = size = 0
    with _open_dir(ws.root, "tasks", ws.task_id, "videos") as videos:
        if videos is None:
            return CleanupStats()
        for _, dirnames, filenames, fd in os.fwalk(".", topdown=False, dir_fd=videos):
            for name in filenames:
                if name.endswith(KEEP_SUFFIXES) and not name.startswith("."):
                    continue
                try:
                    size += os.stat(name, dir_fd=fd, follow_symlinks=False).st_size
                    os.unlink(name, dir_fd=fd)
                    files += 1
                except FileNotFoundError:
                    continue
            for name in dirnames:
                with contextlib.suppress(OSError):  # removes only empty folders (frames/, keyframes/)
                    os.rmdir(name, dir_fd=fd)
    return CleanupStats(files=files, bytes=size)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)


@contextlib.contextmanager
def _open_dir(root: Path, *parts: str) -> Iterator[int | None]:
    """A descriptor on ``root/parts…``, no part of which may be a symbolic link; None if one is.

    Each part is opened relative to the previous one with ``O_NOFOLLOW``, so a link swapped in
    after a check cannot redirect what follows. None too when a part is missing.
    """
    fds: list[int] = []
    found: int | None = None
    try:
        try:
            fds.append(os.open(root, _DIR_FLAGS))
            for part in parts:
                fds.append(os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fds[-1]))
            found = fds[-1]
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                log.warning("cleanup.link_not_followed", path=str(root.joinpath(*parts)))
        yield found
    finally:
        for fd in reversed(fds):
            os.close(fd)


def _lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _newest_mtime(tasks: int, name: str) -> float:
    """The newest mtime inside folder ``name`` of ``tasks`` (links count as themselves)."""
    top = _lstat_at(tasks, name)
    newest = top.st_mtime if top else 0.0
    for _, dirnames, filenames, fd in os.fwalk(name, dir_fd=tasks):
        for entry in (*dirnames, *filenames):
            st = _lstat_at(fd, entry)
            if st is not None:
                newest = max(newest, st.st_mtime)
    return newest


def _remove_tree(tasks: int, name: str) -> None:
    """Delete folder ``name`` of ``tasks`` and everything in it; links are removed, never followed."""
    for _, dirnames, filenames, fd in os.fwalk(name, topdown=False, dir_fd=tasks):
        for entry in filenames:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry, dir_fd=fd)
        for entry in dirnames:
            try:
                os.rmdir(entry, dir_fd=fd)
            except NotADirectoryError:  # a link to a folder: the link goes, its target stays
                os.unlink(entry, dir_fd=fd)
    os.rmdir(name, dir_fd=tasks)


def clean_workspace(
    root: Path, older_than_s: float, now: float | None = None, *, keep: Callable[[str], bool] | None = None
) -> list[str]:
    """Remove task workspaces untouched for ``older_than_s`` seconds; returns the removed task ids.

    ``keep(task_id)`` may veto a removal (the CLI keeps tasks whose execution still runs). Links
    are never followed: a ``tasks`` folder or task folder that is a link is skipped.
    """
    cutoff = (time.time() if now is None else now) - older_than_s
    removed: list[str] = []
    with _open_dir(root, "tasks") as tasks:
        if tasks is None:
            return []
        for name in sorted(os.listdir(tasks)):
            st = _lstat_at(tasks, name)
            if st is None or not stat.S_ISDIR(st.st_mode) or not valid_id(name):
                continue
            newest = _newest_mtime(tasks, name)
            if newest >= cutoff:
                continue
            if keep is not None and keep(name):
                log.info("cleanup.kept_running", task_id=name)
                continue
            _remove_tree(tasks, name)
            removed.append(name)
            log.info("cleanup.task_removed", task_id=name, idle_s=round(cutoff + older_than_s - newest))
    return removed
