"""The terminal progress display, driven by real progress files in a temporary workspace."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from rich.console import Console

from steps import Manifest, Options, TaskWorkspace, VideoEntry, atomic_write_json, record_stage, record_task
from video_insight._progress_view import (
    ProgressView,
    format_elapsed,
    render_line,
    render_rich,
    snapshot,
)

NAMES = {"v1": "Lumen bottle", "v2": "Stride shoes", "v3": "Broken upload"}


@pytest.fixture
def ws(tmp_path: Path) -> TaskWorkspace:
    ws = TaskWorkspace(tmp_path, "task_1")
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


def _advance(ws: TaskWorkspace) -> None:
    """v1 transcribing, v2 done, v3 failed at media."""
    for vid in NAMES:
        record_stage(ws, vid, "fetch", "ok")
    record_stage(ws, "v1", "media", "ok")
    record_stage(ws, "v1", "transcribe", "running")
    for stage in ("media", "transcribe", "shots", "analyze"):
        record_stage(ws, "v2", stage, "ok")
    record_stage(ws, "v3", "media", "failed", {"code": "CorruptVideo", "message": "moov atom not found"})


def _plain_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=200, color_system=None), out


def test_snapshot_counts_and_states(ws: TaskWorkspace) -> None:
    _advance(ws)
    snap = snapshot(ws, started_at=100.0, now=163.5)
    assert snap.total == 3 and snap.phase == "processing" and snap.title == "Example batch"
    assert snap.counts["fetch"]["ok"] == 3
    assert snap.counts["media"] == {"ok": 2, "failed": 1, "running": 0, "skipped": 0}
    states = {v.video_id: v for v in snap.videos}
    assert states["v1"].status == "running" and states["v1"].current == "transcribe"
    assert states["v2"].status == "ok"
    assert states["v3"].status == "failed" and states["v3"].name == "Broken upload"
    assert states["v3"].reason == "CorruptVideo: moov atom not found"
    assert snap.elapsed_s == pytest.approx(63.5)


def test_snapshot_of_a_task_that_has_not_started(tmp_path: Path) -> None:
    snap = snapshot(TaskWorkspace(tmp_path, "fresh"))
    assert (snap.phase, snap.total, snap.videos, snap.elapsed_s) == ("preparing", 0, (), None)
    assert render_line(snap).startswith("[--:--] download 0/0")


def test_render_line(ws: TaskWorkspace) -> None:
    _advance(ws)
    line = render_line(snapshot(ws, started_at=0.0, now=3.0))
    assert line == (
        "[00:03] download 3/3 | audio 2/3 (1 failed) | transcripts 1/3 | shots 1/3 | analysis 1/3"
        " | written 0/3 · processing"
    )


def test_written_counts_rows_once_published(ws: TaskWorkspace) -> None:
    _advance(ws)
    record_task(ws, phase="published")
    assert "written 3/3 · published" in render_line(snapshot(ws))
    record_task(ws, written=2)
    assert snapshot(ws).written == 2


def test_rich_display_shows_stages_running_step_and_failure_reason(ws: TaskWorkspace) -> None:
    _advance(ws)
    console = Console(record=True, width=100)
    console.print(render_rich(snapshot(ws, started_at=0.0, now=75.0)))
    text = console.export_text()
    assert "Example batch" in text and "01:15" in text and "处理中 processing" in text
    download = next(line for line in text.splitlines() if line.startswith("下载 Download"))
    assert "3/3" in download
    audio = next(line for line in text.splitlines() if line.startswith("音频 Audio"))
    assert "2/3" in audio and " 1 " in audio
    running = next(line for line in text.splitlines() if line.startswith("Lumen bottle"))
    assert "转写 Transcripts" in running
    failed = next(line for line in text.splitlines() if line.startswith("Broken upload"))
    assert "CorruptVideo: moov atom not found" in failed and "音频 Audio" in failed
    assert "Stride shoes" not in text  # finished videos leave the running list


def test_rich_display_shows_a_task_failure(ws: TaskWorkspace) -> None:
    record_task(ws, phase="failed", error={"code": "InvalidRequest", "message": "videos[0]: no url"})
    console = Console(record=True, width=100)
    console.print(render_rich(snapshot(ws)))
    assert "Task failed: InvalidRequest videos[0]: no url" in console.export_text()


def test_plain_view_prints_only_changes_and_each_outcome_once(ws: TaskWorkspace) -> None:
    console, out = _plain_console()
    with ProgressView(ws, console=console, interval=60) as view:
        view.refresh()
        view.refresh()
        first = out.getvalue().splitlines()
        assert len(first) == 1 and "download 0/3" in first[0]
        _advance(ws)
        view.refresh()
        view.refresh()
    lines = out.getvalue().splitlines()
    assert any(line.endswith("done: Stride shoes") for line in lines)
    failed = [line for line in lines if "failed: Broken upload" in line]
    assert failed == [failed[0]] and failed[0].endswith("at media: CorruptVideo: moov atom not found")
    summaries = [line for line in lines if "| written" in line]
    assert len(summaries) == 2 and "audio 2/3 (1 failed)" in summaries[1]


def test_plain_view_polls_in_the_background(ws: TaskWorkspace) -> None:
    console, out = _plain_console()
    with ProgressView(ws, console=console, interval=0.01):
        record_stage(ws, "v1", "fetch", "ok")
        deadline = time.monotonic() + 5
        while "download 1/3" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
    assert "download 1/3" in out.getvalue()


def test_live_view_on_a_terminal_ends_with_the_final_state(ws: TaskWorkspace) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100, color_system=None)
    with ProgressView(ws, console=console, interval=0.01):
        _advance(ws)
        for stage in ("transcribe", "shots", "analyze"):
            record_stage(ws, "v1", stage, "ok")
        record_task(ws, phase="finished")
    text = out.getvalue()
    assert "完成 finished" in text and "CorruptVideo: moov atom not found" in text
    assert "| written" not in text  # no plain lines on a terminal


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "--:--"), (0, "00:00"), (65.9, "01:05"), (3725, "1:02:05")]
)
def test_format_elapsed(seconds: float | None, text: str) -> None:
    assert format_elapsed(seconds) == text


def test_a_video_with_a_finished_parallel_branch_still_shows_the_running_one(ws: TaskWorkspace) -> None:
    for stage in ("fetch", "media"):
        record_stage(ws, "v1", stage, "ok")
    record_stage(ws, "v1", "transcribe", "running")
    record_stage(ws, "v1", "shots", "running")
    record_stage(ws, "v1", "shots", "ok")  # clears "current", transcribe still runs
    states = {v.video_id: v for v in snapshot(ws).videos}
    assert states["v1"].status == "running" and states["v1"].current == "transcribe"


def test_parallel_branches_never_lose_each_others_updates(ws: TaskWorkspace) -> None:
    """Transcribe and Shots record progress for the same video at the same time."""
    import threading

    def branch(stage: str, video_id: str) -> None:
        record_stage(ws, video_id, stage, "running")
        record_stage(ws, video_id, stage, "ok")

    ids = [f"p{i}" for i in range(30)]
    threads = [threading.Thread(target=branch, args=(s, v)) for v in ids for s in ("transcribe", "shots")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    videos = {v.video_id: v for v in snapshot(ws).videos}
    counts = snapshot(ws).counts
    assert counts["transcribe"]["ok"] == counts["shots"]["ok"] == len(ids)
    assert all(videos[v].current is None for v in ids)
