"""``video-insight clean``: stale tasks go, with their local execution records; running ones stay."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from flows import ExecutionInfo, ExecutionStore
from steps import Settings, parse_duration
from video_insight._app import clean_stale

DAY = 86400.0


def _age(folder: Path, age_s: float, now: float) -> None:
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (now - age_s, now - age_s))


def _task(root: Path, task_id: str, age_s: float, now: float) -> Path:
    folder = root / "tasks" / task_id
    (folder / "videos" / "v1").mkdir(parents=True)
    (folder / "videos" / "v1" / "source.mp4").write_bytes(b"x" * 100)
    _age(folder, age_s, now)
    return folder


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_clean_keeps_running_executions_and_forgets_removed_ones(tmp_path: Path) -> None:
    now = time.time()
    store = ExecutionStore(tmp_path / "executions" / "video-insight")
    for task_id, status, pid in (
        ("old_running", "Running", os.getpid()),
        ("old_crashed", "Running", _dead_pid()),
        ("old_done", "Succeeded", os.getpid()),
    ):
        _task(tmp_path, task_id, 2 * DAY, now)
        writer = store.create(ExecutionInfo(name=task_id, flow="video-insight", status=status, pid=pid))
        assert writer is not None
        writer.close()
    _task(tmp_path, "old", 2 * DAY, now)
    _task(tmp_path, "fresh", 3600, now)

    removed = clean_stale(Settings(workspace=tmp_path), parse_duration("24h"), now=now)

    assert removed == ["old", "old_crashed", "old_done"]
    assert sorted(p.name for p in (tmp_path / "tasks").iterdir()) == ["fresh", "old_running"]
    assert [i.name for i in store.list()] == ["old_running"]


def test_clean_never_deletes_execution_records_through_a_link(tmp_path: Path) -> None:
    now = time.time()
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    _task(ws, "old", 2 * DAY, now)
    (outside / "video-insight" / "old").mkdir(parents=True)
    (outside / "video-insight" / "old" / "meta.json").write_text("{}", encoding="utf-8")
    (ws / "executions").symlink_to(outside)
    assert clean_stale(Settings(workspace=ws), parse_duration("24h"), now=now) == ["old"]
    assert (outside / "video-insight" / "old" / "meta.json").is_file()  # today: deleted through the link
    (ws / "executions").unlink()
    (ws / "executions").mkdir()
    (ws / "executions" / "video-insight").symlink_to(outside / "video-insight")
    _task(ws, "old", 2 * DAY, now)
    assert clean_stale(Settings(workspace=ws), parse_duration("24h"), now=now) == ["old"]
    assert (outside / "video-insight" / "old" / "meta.json").is_file()
