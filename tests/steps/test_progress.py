"""The progress model: per-stage files, the snapshot every renderer shows, the sink and the labels."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from steps import (
    PHASE_LABELS,
    STAGE_LABELS,
    STAGES,
    ProgressSink,
    ProgressUpdate,
    Settings,
    StageCounts,
    TaskWorkspace,
    load_video_progress,
    progress_sink,
    record_stage,
    record_task,
    snapshot,
    stage_label,
)
from tests.progress import advance, progress_task


@pytest.fixture
def ws(tmp_path: Path) -> TaskWorkspace:
    return progress_task(tmp_path)


class Collect:
    """A reporter that keeps what it is told (and can check the file is written before it is told)."""

    def __init__(self) -> None:
        self.updates: list[ProgressUpdate] = []
        self.on_disk: list[str | None] = []

    def __call__(self, update: ProgressUpdate) -> None:
        self.updates.append(update)
        if update.video_id and update.stage:
            state = load_video_progress(update.ws, update.video_id)
            self.on_disk.append(state["stages"].get(update.stage))


# --- the snapshot ----------------------------------------------------------------------------------


def test_snapshot_counts_and_states(ws: TaskWorkspace) -> None:
    advance(ws)
    snap = snapshot(ws, started_at=100.0, now=163.5)
    assert snap.total == 3 and snap.phase == "processing" and snap.title == "Example batch"
    assert snap.counts["fetch"] == StageCounts(ok=3)
    assert snap.counts["media"] == StageCounts(ok=2, failed=1)
    assert (snap.counts["transcribe"].running, snap.counts["analyze"].done) == (1, 1)
    states = {v.video_id: v for v in snap.videos}
    assert states["v1"].status == "running" and states["v1"].current == "transcribe"
    assert states["v2"].status == "ok" and snap.ok == 1
    assert states["v3"].status == "failed" and states["v3"].name == "Broken upload"
    assert states["v3"].reason == "视频已损坏，无法解码：moov atom not found（CorruptVideo）"  # Chinese first
    assert states["v3"].failed_stage == "media"
    assert [v.video_id for v in snap.failed] == ["v3"] and [v.video_id for v in snap.running] == ["v1"]
    assert snap.elapsed_s == pytest.approx(63.5)


def test_snapshot_of_a_task_that_has_not_started(tmp_path: Path) -> None:
    snap = snapshot(TaskWorkspace(tmp_path, "fresh"))
    assert (snap.phase, snap.total, snap.videos, snap.elapsed_s) == ("preparing", 0, (), None)
    assert set(snap.counts) == set(STAGES) and not snap.done


def test_the_clock_starts_at_the_first_record_and_stops_when_the_task_ends(ws: TaskWorkspace) -> None:
    started = snapshot(ws).started_at
    assert started is not None
    record_task(ws, phase="processing")  # later records keep the first start
    assert snapshot(ws).started_at == started
    record_task(ws, phase="finished", finished_at=started + 42.0)
    snap = snapshot(ws, now=started + 1000.0)
    assert snap.done and snap.elapsed_s == pytest.approx(42.0)
    assert snap.at(started + 5000.0).elapsed_s == pytest.approx(42.0)


def test_a_card_reads_the_outputs_duplicates_and_task_error(ws: TaskWorkspace) -> None:
    record_task(ws, duplicates=1, outputs={"json": "results.json", "bitable": "https://x.test/base/1"})
    record_task(ws, phase="failed", error={"code": "InvalidRequest", "message": "no videos"})
    snap = snapshot(ws)
    assert snap.outputs["bitable"] == "https://x.test/base/1" and snap.duplicates == 1
    assert snap.error == {"code": "InvalidRequest", "message": "no videos"} and snap.done


def test_written_counts_rows_once_published(ws: TaskWorkspace) -> None:
    advance(ws)
    assert snapshot(ws).written == 0
    record_task(ws, phase="published")
    assert snapshot(ws).written == 3
    record_task(ws, written=2)
    assert snapshot(ws).written == 2


def test_a_later_snapshot_is_never_older(ws: TaskWorkspace) -> None:
    first = snapshot(ws)
    record_stage(ws, "v1", "fetch", "running")
    second = snapshot(ws)
    assert second.updated_at >= first.updated_at and second.counts["fetch"].running == 1


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

    def branch(stage: str, video_id: str) -> None:
        record_stage(ws, video_id, stage, "running")
        record_stage(ws, video_id, stage, "ok")

    ids = [f"p{i}" for i in range(30)]
    threads = [threading.Thread(target=branch, args=(s, v)) for v in ids for s in ("transcribe", "shots")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = snapshot(ws)
    videos = {v.video_id: v for v in snap.videos}
    assert snap.counts["transcribe"].ok == snap.counts["shots"].ok == len(ids)
    assert all(videos[v].current is None for v in ids)


# --- progress never moves back ---------------------------------------------------------------------


@pytest.mark.parametrize("end", ["ok", "failed", "skipped"])
def test_a_stage_that_ended_never_moves_back_to_running(ws: TaskWorkspace, end: str) -> None:
    sink = ProgressSink()
    seen = sink.register(Collect())
    record_stage(ws, "v1", "media", end, sink=sink)
    record_stage(ws, "v1", "media", "running", {"code": "Transient.Network", "message": "late"}, sink=sink)
    record_stage(ws, "v1", "media", "pending", sink=sink)
    state = load_video_progress(ws, "v1")
    assert state["stages"]["media"] == end and "error" not in state
    assert [u.status for u in seen.updates] == [end]  # a dropped update is not reported either


# --- the sink --------------------------------------------------------------------------------------


def test_a_stage_update_is_on_disk_before_reporters_hear_of_it(ws: TaskWorkspace) -> None:
    sink = ProgressSink()
    seen = sink.register(Collect())
    record_stage(ws, "v3", "media", "failed", {"code": "CorruptVideo", "message": "bad"}, sink=sink)
    (update,) = seen.updates
    assert (update.task_id, update.video_id, update.stage, update.status) == (
        "task_1",
        "v3",
        "media",
        "failed",
    )
    assert update.error == {"code": "CorruptVideo", "message": "bad", "stage": "media"}
    assert seen.on_disk == ["failed"]


def test_a_task_update_carries_its_fields(ws: TaskWorkspace) -> None:
    sink = ProgressSink()
    seen = sink.register(Collect())
    record_task(ws, phase="published", outputs={"json": "results.json"}, sink=sink)
    (update,) = seen.updates
    assert update.video_id is None and dict(update.fields) == {
        "phase": "published",
        "outputs": {"json": "results.json"},
    }
    assert snapshot(update.ws).phase == "published"


def test_a_raising_reporter_is_logged_and_the_others_still_hear(ws: TaskWorkspace) -> None:
    def broken(update: ProgressUpdate) -> None:
        raise ConnectionError("card service down")

    sink = ProgressSink([broken])
    seen = sink.register(Collect())
    with capture_logs() as logs:
        record_stage(ws, "v1", "fetch", "running", sink=sink)
    assert [u.status for u in seen.updates] == ["running"]
    failure = next(e for e in logs if e["event"] == "progress.reporter_failed")
    assert "card service down" in failure["error"] and failure["task_id"] == "task_1"


def test_a_write_that_fails_is_not_reported_and_does_not_raise(ws: TaskWorkspace) -> None:
    sink = ProgressSink()
    seen = sink.register(Collect())
    (ws.progress_dir / "v1" / "media.json").mkdir(parents=True)  # a folder where the file should go
    with capture_logs() as logs:
        record_stage(ws, "v1", "media", "running", sink=sink)
    assert seen.updates == [] and any(e["event"] == "progress.write_failed" for e in logs)


def test_registered_only_inside_the_block(ws: TaskWorkspace) -> None:
    sink = ProgressSink()
    seen = Collect()
    with sink.registered(seen):
        record_stage(ws, "v1", "fetch", "running", sink=sink)
    record_stage(ws, "v1", "fetch", "ok", sink=sink)
    assert [u.status for u in seen.updates] == ["running"] and sink.reporters == ()


def test_progress_sink_holds_what_the_settings_enable(tmp_path: Path) -> None:
    settings = Settings(workspace=tmp_path, feishu_app_id="cli_app")
    card = Collect()

    def card_when_configured(s: Settings) -> Collect | None:
        return card if s.feishu_app_id else None

    def not_configured(s: Settings) -> None:
        return None

    def cannot_start(s: Settings) -> Collect:
        raise RuntimeError("no token")

    with capture_logs() as logs:
        sink = progress_sink(settings, [card_when_configured, not_configured, cannot_start])
    assert sink.reporters == (card,)
    assert any(e["event"] == "progress.reporter_unavailable" for e in logs)
    assert progress_sink(Settings(workspace=tmp_path), [card_when_configured]).reporters == ()


# --- labels ----------------------------------------------------------------------------------------


def test_every_stage_and_phase_has_a_chinese_label_first() -> None:
    assert set(STAGE_LABELS) == set(STAGES)
    for label in [*STAGE_LABELS.values(), *PHASE_LABELS.values()]:
        assert "\u4e00" <= str(label)[0] <= "\u9fff", label
    assert str(STAGE_LABELS["fetch"]) == "下载 Download" and STAGE_LABELS["fetch"].word == "download"
    assert str(stage_label("lipsync")) == "lipsync"  # a stage without a label shows its key
