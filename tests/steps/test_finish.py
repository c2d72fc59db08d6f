"""RecordFailure, Finish (counts, final progress, media cleanup) and stale-workspace cleanup."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from steps import (
    AnalysisRecord,
    Manifest,
    Metrics,
    Options,
    Settings,
    StepContext,
    TaskWorkspace,
    VideoEntry,
    VideoRef,
    atomic_write_json,
    load_progress,
    read_json,
    record_stage,
    save_artifact,
    step,
)
from steps._cleanup import clean_workspace, parse_duration
from steps.errors import CorruptVideo, InvalidStepInput
from steps.finish import handler as finish
from steps.record_failure import friendly_message
from steps.record_failure import handler as record_failure

TASK = "task_fin"
MEDIA = ("source.mp4", "audio.wav", "frames/0001.jpg", "frames/0002.jpg", "contact_sheet.jpg")


def _ctx(settings: Settings) -> StepContext:
    return StepContext(settings=settings)


def _make_task(settings: Settings, ok: tuple[str, ...], failed: tuple[str, ...]) -> TaskWorkspace:
    """A task after Publish: ok videos have analysis.json, failed ones failure.json, all have media."""
    ws = TaskWorkspace(settings.workspace, TASK)
    videos = [VideoEntry(video_id=v, name=v.upper(), path=f"/in/{v}.mp4") for v in ok + failed]
    videos.append(VideoEntry(video_id="dup", name="dup", path=f"/in/{ok[0]}.mp4", duplicate_of=ok[0]))
    manifest = Manifest(task_id=TASK, created_at=time.time(), options=Options(), videos=videos)
    atomic_write_json(ws.manifest, manifest.model_dump(mode="json"))
    atomic_write_json(ws.request, {"videos": [{"name": v, "path": f"/in/{v}.mp4"} for v in ok + failed]})
    for vid in ok + failed:
        folder = ws.make_video_dir(vid)
        for rel in MEDIA:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(b"\0" * 2048)
        atomic_write_json(folder / "probe.json", {"duration_s": 8.0})
        (folder / "transcript.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhi\n", encoding="utf-8")
        record_stage(ws, vid, "fetch", "ok")
    for vid in ok:
        save_artifact(ws.video_dir(vid), AnalysisRecord(metrics=Metrics(duration_s=8.0)))
    for vid in failed:
        record_failure({"task_id": TASK, "video_id": vid, "error": {"Code": "CorruptVideo"}}, _ctx(settings))
    (ws.out / "media" / ok[0]).mkdir(parents=True)
    (ws.out / "media" / ok[0] / "contact_sheet.jpg").write_bytes(b"jpeg")
    atomic_write_json(ws.out / "results.json", {"task_id": TASK})
    return ws


def _prepared(settings: Settings, *video_ids: str) -> TaskWorkspace:
    """A task whose manifest lists ``video_ids``: steps refuse videos of no task."""
    ws = TaskWorkspace(settings.workspace, TASK)
    videos = [VideoEntry(video_id=v, name=v, path=f"/in/{v}.mp4") for v in video_ids]
    manifest = Manifest(task_id=TASK, created_at=time.time(), options=Options(), videos=videos)
    atomic_write_json(ws.manifest, manifest.model_dump(mode="json"))
    return ws


def _video_progress(ws: TaskWorkspace, video_id: str) -> dict:
    return next(v for v in load_progress(ws)[1] if v["video_id"] == video_id)


# --- RecordFailure ---------------------------------------------------------------------------


class _Out(BaseModel):
    task_id: str
    video_id: str


def test_failure_of_a_real_step_is_recorded_with_its_stage_and_reason(settings: Settings) -> None:
    @step("media", VideoRef, stage="media")
    def media(inp: VideoRef, ctx: StepContext) -> _Out:
        raise CorruptVideo("moov atom not found")

    ws = _prepared(settings, "v1")
    record_stage(ws, "v1", "fetch", "ok")
    with pytest.raises(CorruptVideo):
        media({"task_id": TASK, "video_id": "v1"}, _ctx(settings))
    # What the flow's Catch builds from $Context.Current.Error:
    event = {
        "task_id": TASK,
        "video_id": "v1",
        "error": {"Code": "CorruptVideo", "Detail": "moov atom not found"},
    }
    assert record_failure(event, _ctx(settings)) == {"video_id": "v1", "status": "failed"}
    failure = read_json(ws.video_dir("v1") / "failure.json")
    assert failure == {"code": "CorruptVideo", "message": "moov atom not found", "step": "media"}
    state = _video_progress(ws, "v1")
    assert state["stages"]["media"] == "failed" and state["stages"]["fetch"] == "ok"
    # Running it again (a retried Task) changes nothing.
    record_failure(event, _ctx(settings))
    assert read_json(ws.video_dir("v1") / "failure.json") == failure
    assert _video_progress(ws, "v1")["stages"] == state["stages"]


def test_timeout_marks_the_running_stage_failed_with_a_friendly_message(settings: Settings) -> None:
    ws = _prepared(settings, "v2")
    for stage in ("fetch", "media"):
        record_stage(ws, "v2", stage, "ok")
    record_stage(ws, "v2", "shots", "running")  # the handler was killed: nothing recorded the failure
    record_failure({"task_id": TASK, "video_id": "v2", "error": {"Code": "FnF.TaskTimeout"}}, _ctx(settings))
    failure = read_json(ws.video_dir("v2") / "failure.json")
    assert failure == {"code": "FnF.TaskTimeout", "message": "the step took too long", "step": "shots"}
    state = _video_progress(ws, "v2")
    assert state["stages"]["shots"] == "failed" and state["current"] is None
    assert state["error"] == {
        "code": "FnF.TaskTimeout",
        "message": "the step took too long",
        "stage": "shots",
    }


def test_empty_detail_falls_back_to_the_message_the_step_recorded(settings: Settings) -> None:
    ws = _prepared(settings, "v3")
    record_stage(
        ws, "v3", "fetch", "failed", {"code": "SourceNotFound", "message": "no such file: /in/x.mp4"}
    )
    event = {"task_id": TASK, "video_id": "v3", "error": {"Code": "SourceNotFound", "Detail": ""}}
    record_failure(event, _ctx(settings))
    failure = read_json(ws.video_dir("v3") / "failure.json")
    assert failure == {"code": "SourceNotFound", "message": "no such file: /in/x.mp4", "step": "fetch"}


@pytest.mark.parametrize(
    ("code", "detail", "message"),
    [
        ("FC.Unknown", "", "internal error"),
        ("FC.Unknown", '{"errorMessage": "disk full", "errorType": "OSError"}', "disk full"),
        ("CorruptVideo", None, "The container or stream cannot be decoded (truncated, damaged)"),
        ("Some.NewCode", "  ", "failed with error Some.NewCode"),
        ("NotAVideo", "got text/html", "got text/html"),
    ],
)
def test_friendly_message(code: str, detail: str | None, message: str) -> None:
    assert friendly_message(code, detail) == message


def test_a_detail_nested_past_the_json_parser_is_kept_as_text() -> None:
    detail = '{"errorMessage": ' * 5000  # found by fuzzing serve-step: it raised RecursionError
    assert friendly_message("FC.Unknown", detail) == detail.strip()


def test_record_failure_rejects_an_event_without_error(settings: Settings) -> None:
    with pytest.raises(InvalidStepInput, match="error"):
        record_failure({"task_id": TASK, "video_id": "v1"}, _ctx(settings))


# --- Finish ----------------------------------------------------------------------------------


def test_finish_counts_records_progress_and_removes_temporary_media(settings: Settings) -> None:
    ws = _make_task(settings, ok=("a", "b"), failed=("c",))
    out = finish({"task_id": TASK}, _ctx(settings))
    assert out == {"task_id": TASK, "status": "succeeded", "counts": {"total": 3, "ok": 2, "failed": 1}}
    task = load_progress(ws)[0]
    assert task["phase"] == "finished" and task["counts"] == {"total": 3, "ok": 2, "failed": 1}
    for vid in ("a", "b", "c"):
        folder = ws.dir / "videos" / vid
        assert not any((folder / rel).exists() for rel in MEDIA), vid
        assert not (folder / "frames").exists()
        assert (folder / "probe.json").is_file() and (folder / "transcript.srt").is_file()
    assert (ws.dir / "videos" / "c" / "failure.json").is_file()
    assert (ws.out / "media" / "a" / "contact_sheet.jpg").read_bytes() == b"jpeg"
    assert (ws.out / "results.json").is_file() and ws.manifest.is_file() and ws.request.is_file()
    # A retried Finish sees the same outcome.
    assert finish({"task_id": TASK}, _ctx(settings)) == out


def _outside(tmp_path: Path) -> Path:
    """A folder outside the workspace holding media that is not ours."""
    victim = tmp_path / "not_ours"
    (victim / "frames").mkdir(parents=True)
    for rel in ("movie.mp4", "frames/0001.jpg"):
        (victim / rel).write_bytes(b"keep me")
    return victim


def _untouched(victim: Path) -> bool:
    return all((victim / rel).read_bytes() == b"keep me" for rel in ("movie.mp4", "frames/0001.jpg"))


@pytest.mark.parametrize("link", ["videos", "videos/a", "videos/a/frames", "videos/a/source.mp4"])
def test_finish_cleanup_never_follows_a_link_out_of_the_workspace(
    settings: Settings, tmp_path: Path, link: str
) -> None:
    ws = _make_task(settings, ok=("a",), failed=())
    victim = _outside(tmp_path)
    target = victim / "movie.mp4" if link.endswith(".mp4") else victim
    placed = ws.dir / link
    if placed.is_dir():
        shutil.rmtree(placed)
    else:
        placed.unlink()
    placed.symlink_to(target)
    finish({"task_id": TASK}, _ctx(settings))
    assert _untouched(victim)  # today: every file under the link was deleted
    assert placed.is_symlink() or link.endswith(".mp4")  # a link to a file goes, as a link


def test_finish_keeps_everything_when_cleanup_is_disabled(tmp_path: Path) -> None:
    env = {"VI_WORKSPACE": str(tmp_path / "ws"), "TEMP_CLEANUP_ENABLED": "false"}
    settings = Settings.from_env(env, dotenv=tmp_path / "no.env")
    assert settings.temp_cleanup_enabled is False
    ws = _make_task(settings, ok=("a",), failed=("b",))
    before = sorted(p.relative_to(ws.dir) for p in ws.dir.rglob("*") if "progress" not in p.parts)
    out = finish({"task_id": TASK}, _ctx(settings))
    assert out["counts"] == {"total": 2, "ok": 1, "failed": 1}
    after = sorted(p.relative_to(ws.dir) for p in ws.dir.rglob("*") if "progress" not in p.parts)
    assert after == before


def test_abort_after_an_invalid_request_reports_the_reason(settings: Settings) -> None:
    ws = TaskWorkspace(settings.workspace, "bad_req")
    atomic_write_json(ws.request, {"videos": []})
    event = {"task_id": "bad_req", "error": {"Code": "InvalidRequest", "Detail": "videos: [] is too short"}}
    out = finish(event, _ctx(settings))
    assert out == {"task_id": "bad_req", "status": "failed", "counts": {"total": 0, "ok": 0, "failed": 0}}
    task = load_progress(ws)[0]
    assert task["phase"] == "failed"
    assert task["error"] == {"code": "InvalidRequest", "message": "videos: [] is too short"}
    assert ws.request.is_file()


def test_abort_after_publish_failed_counts_the_videos_and_explains_an_empty_detail(
    settings: Settings,
) -> None:
    ws = _make_task(settings, ok=("a", "b"), failed=())
    out = finish({"task_id": TASK, "error": {"Code": "FnF.TaskTimeout", "Detail": ""}}, _ctx(settings))
    assert out["status"] == "failed" and out["counts"] == {"total": 2, "ok": 2, "failed": 0}
    assert load_progress(ws)[0]["error"] == {"code": "FnF.TaskTimeout", "message": "the step took too long"}


# --- clean_workspace / parse_duration ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("24h", 86400.0),
        ("90m", 5400.0),
        ("7d", 604800.0),
        ("3600s", 3600.0),
        ("1h30m", 5400.0),
        ("1.5H", 5400.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "24", "h", "24x", "-1h", "1 day", "1h30", "9" * 400 + "s"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def _task_dir(root: Path, task_id: str, age_s: float, now: float) -> Path:
    folder = root / "tasks" / task_id
    (folder / "videos" / "v1").mkdir(parents=True)
    (folder / "videos" / "v1" / "source.mp4").write_bytes(b"x" * 100)
    (folder / "manifest.json").write_text("{}", encoding="utf-8")
    _age(folder, age_s, now)
    return folder


def _age(folder: Path, age_s: float, now: float) -> None:
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (now - age_s, now - age_s))


def test_clean_workspace_removes_only_stale_tasks_unless_kept(tmp_path: Path) -> None:
    now = time.time()
    day = 86400.0
    _task_dir(tmp_path, "old", 2 * day, now)
    _task_dir(tmp_path, "fresh", 3600, now)
    _task_dir(tmp_path, "old_kept", 2 * day, now)
    touched = _task_dir(tmp_path, "old_but_touched", 2 * day, now)
    os.utime(touched / "videos" / "v1" / "source.mp4", (now - 60, now - 60))

    removed = clean_workspace(tmp_path, parse_duration("24h"), now=now, keep=lambda t: t == "old_kept")

    assert removed == ["old"]
    left = sorted(p.name for p in (tmp_path / "tasks").iterdir())
    assert left == ["fresh", "old_but_touched", "old_kept"]


def test_clean_workspace_never_follows_a_link_out_of_the_workspace(tmp_path: Path) -> None:
    now = time.time()
    elsewhere = tmp_path / "elsewhere"
    victim = _task_dir(elsewhere, "old_victim", 2 * 86400.0, now)  # looks like a stale task
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "tasks").symlink_to(elsewhere / "tasks")
    assert clean_workspace(ws, parse_duration("24h"), now=now) == []
    assert (victim / "videos" / "v1" / "source.mp4").is_file()  # today: deleted through the link

    (ws / "tasks").unlink()
    inside_task = _task_dir(ws, "old_own", 2 * 86400.0, now)
    (ws / "tasks" / "old_link").symlink_to(victim)
    link = inside_task / "videos" / "v1" / "elsewhere"
    link.symlink_to(victim)
    os.utime(link, (now - 2 * 86400.0,) * 2, follow_symlinks=False)
    os.utime(link.parent, (now - 2 * 86400.0,) * 2)
    assert clean_workspace(ws, parse_duration("24h"), now=now) == ["old_own"]
    assert (victim / "videos" / "v1" / "source.mp4").is_file() and (ws / "tasks" / "old_link").is_symlink()


def test_clean_workspace_on_an_empty_root(tmp_path: Path) -> None:
    assert clean_workspace(tmp_path / "nothing", 0) == []
