"""The terminal progress display: a renderer of the progress model and a reporter on the sink."""

from __future__ import annotations

import io
from functools import partial
from pathlib import Path

import pytest
from rich.console import Console

from steps import (
    ProgressSink,
    ProgressUpdate,
    Settings,
    TaskWorkspace,
    atomic_write_json,
    record_stage,
    record_task,
    snapshot,
)
from tests.polling import poll
from tests.progress import advance, progress_task
from video_insight._app import build_engine
from video_insight._progress_view import ProgressView, format_elapsed, render_line, render_rich


@pytest.fixture
def ws(tmp_path: Path) -> TaskWorkspace:
    return progress_task(tmp_path)


def _plain_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=False, width=200, color_system=None), out


def _terminal_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=100, color_system=None), out


_wait_for = partial(poll, seconds=10.0)


def test_render_line(ws: TaskWorkspace) -> None:
    advance(ws)
    line = render_line(snapshot(ws, started_at=0.0, now=3.0))
    assert line == (
        "[00:03] download 3/3 | audio 2/3 (1 failed) | transcripts 1/3 | shots 1/3 | on-screen text 1/3"
        " | analysis 1/3 | written 0/3 · processing"
    )


def test_render_line_of_a_task_that_has_not_started(tmp_path: Path) -> None:
    assert render_line(snapshot(TaskWorkspace(tmp_path, "fresh"))).startswith("[--:--] download 0/0")


def test_written_counts_rows_once_published(ws: TaskWorkspace) -> None:
    advance(ws)
    record_task(ws, phase="published")
    assert "written 3/3 · published" in render_line(snapshot(ws))


def test_rich_display_shows_stages_running_step_and_failure_reason(ws: TaskWorkspace) -> None:
    advance(ws)
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
    assert "视频已损坏，无法解码：moov atom not" in failed and "音频 Audio" in failed
    assert "Stride shoes" not in text  # finished videos leave the running list


def test_rich_display_shows_a_task_failure(ws: TaskWorkspace) -> None:
    record_task(ws, phase="failed", error={"code": "InvalidRequest", "message": "videos[0]: no url"})
    console = Console(record=True, width=100)
    console.print(render_rich(snapshot(ws)))
    assert "Task failed: InvalidRequest videos[0]: no url" in console.export_text()


def test_plain_view_prints_only_changes_and_each_outcome_once(ws: TaskWorkspace) -> None:
    console, out = _plain_console()
    with ProgressView(ws, console=console, interval=60) as view:
        assert _wait_for(lambda: "download 0/3" in out.getvalue())  # what was recorded before it started
        view.refresh()
        view.refresh()
        first = out.getvalue().splitlines()
        assert len(first) == 1 and "download 0/3" in first[0]
        advance(ws)
        view.refresh()
        view.refresh()
    lines = out.getvalue().splitlines()
    assert any(line.endswith("done: Stride shoes") for line in lines)
    failed = [line for line in lines if "failed: Broken upload" in line]
    assert failed == [failed[0]] and failed[0].endswith(
        "at media: 视频已损坏，无法解码：moov atom not found（CorruptVideo）"
    )
    summaries = [line for line in lines if "| written" in line]
    assert len(summaries) == 2 and "audio 2/3 (1 failed)" in summaries[1]


def test_plain_view_prints_an_update_the_sink_brings(ws: TaskWorkspace) -> None:
    console, out = _plain_console()
    sink = ProgressSink()
    view = ProgressView(ws, console=console, interval=0.01)
    with sink.registered(view.report), view:
        record_stage(ws, "v1", "fetch", "ok", sink=sink)
        shown = _wait_for(lambda: "download 1/3" in out.getvalue())
    assert shown, out.getvalue()


def test_live_view_shows_an_update_while_it_is_live(ws: TaskWorkspace) -> None:
    """An update reaches the terminal through the sink while the display runs, not only at its end."""
    console, out = _terminal_console()
    sink = ProgressSink()
    view = ProgressView(ws, console=console, interval=0.01)
    with sink.registered(view.report), view:
        assert _wait_for(lambda: "处理中 processing" in out.getvalue())
        error = {"code": "CorruptVideo", "message": "moov atom not found"}
        record_stage(ws, "v3", "media", "failed", error, sink=sink)
        shown_live = _wait_for(lambda: "视频已损坏，无法解码" in out.getvalue())
    assert shown_live, "the update reached the display only when it closed"


def test_the_view_does_not_read_the_files_again_without_an_update(ws: TaskWorkspace) -> None:
    """Nothing polls: a change recorded without the sink shows only when the view closes."""
    console, out = _plain_console()
    view = ProgressView(ws, console=console, interval=0.01)
    with view:
        assert _wait_for(lambda: "download 0/3" in out.getvalue())
        record_stage(ws, "v1", "fetch", "ok")  # no sink: nobody is told
        assert not _wait_for(lambda: "download 1/3" in out.getvalue(), seconds=0.5)
    assert "download 1/3" in out.getvalue()


def test_live_view_on_a_terminal_ends_with_the_final_state(ws: TaskWorkspace) -> None:
    console, out = _terminal_console()
    with ProgressView(ws, console=console, interval=0.01):
        advance(ws)
        for stage in ("transcribe", "shots", "analyze"):
            record_stage(ws, "v1", stage, "ok")
        record_task(ws, phase="finished")
    text = out.getvalue()
    assert "完成 finished" in text and "视频已损坏，无法解码：moov atom not" in text
    assert "| written" not in text  # no plain lines on a terminal


def test_the_view_ignores_updates_of_other_tasks(ws: TaskWorkspace, tmp_path: Path) -> None:
    console, out = _plain_console()
    sink = ProgressSink()
    other = TaskWorkspace(tmp_path, "task_2")
    view = ProgressView(ws, console=console, interval=0.01)
    with sink.registered(view.report), view:
        assert _wait_for(lambda: "download 0/3" in out.getvalue())
        record_stage(ws, "v1", "fetch", "ok")  # on disk, but the only update names another task
        record_task(other, phase="processing", sink=sink)
        assert not _wait_for(lambda: "download 1/3" in out.getvalue(), seconds=0.5)


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "--:--"), (0, "00:00"), (65.9, "01:05"), (3725, "1:02:05")]
)
def test_format_elapsed(seconds: float | None, text: str) -> None:
    assert format_elapsed(seconds) == text


def test_the_engine_reports_every_step_to_the_sink_it_was_built_with(tmp_path: Path) -> None:
    """The CLI's wiring: build_engine hands the sink to every Task, so a registered reporter hears all."""
    settings = Settings(workspace=tmp_path / "ws", allow_local_paths=True, temp_cleanup_enabled=False)
    sink = ProgressSink()
    heard: list[ProgressUpdate] = []
    sink.register(heard.append)
    engine = build_engine(settings, progress=sink)
    ws = TaskWorkspace(settings.workspace, "t_sink")
    request = {"task_id": "t_sink", "videos": [{"name": "gone", "path": str(tmp_path / "gone.mp4")}]}
    atomic_write_json(ws.request, request)
    execution = engine.start("t_sink", {"task_id": "t_sink"}, wait=True)
    assert execution.status == "Succeeded", execution.error
    phases = [u.fields.get("phase") for u in heard if u.video_id is None]
    assert phases == ["processing", "summarizing", "publishing", "published", "finished"]
    stages = [(u.stage, u.status) for u in heard if u.video_id is not None]
    assert stages[:2] == [("fetch", "running"), ("fetch", "failed")]  # Fetch, then RecordFailure
    assert {u.error["code"] for u in heard if u.error} == {"SourceNotFound"}
    assert (
        snapshot(ws).done
        and snapshot(ws).failed[0].reason.startswith("找不到视频")
        and "（SourceNotFound）" in snapshot(ws).failed[0].reason
    )
