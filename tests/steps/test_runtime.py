"""The step wrapper, layer by layer: parse, log context, stage progress, output size; and all together."""

from __future__ import annotations

import json
import re
import time
import types
from pathlib import Path

import httpx
import pytest
import structlog
from structlog.testing import capture_logs

import flows
from steps import (
    MAX_STATE_BYTES,
    FCStep,
    Manifest,
    Options,
    ProgressSink,
    ProgressUpdate,
    Settings,
    StepContext,
    TaskWorkspace,
    VideoEntry,
    VideoRef,
    atomic_write_json,
    load_video_progress,
    state_size,
    step,
    step_services,
)
from steps._progress import record_stage, settle_optional_stages, snapshot
from steps._runtime import StepModel, dump_output, log_context, parse_event, stage_progress, step_context
from steps._workspace import read_json
from steps.errors import (
    CorruptVideo,
    InvalidStepInput,
    ModelUnavailable,
    NetworkError,
    OutputTooLarge,
)
from tests.cli._served import serving


class Blob(StepModel):
    video_id: str
    data: str


def _task(settings: Settings, task_id: str = "t_rt", videos: tuple[str, ...] = ("v1",)) -> TaskWorkspace:
    ws = TaskWorkspace(settings.workspace, task_id)
    entries = [VideoEntry(video_id=v, name=f"{v}.mp4", path=f"/in/{v}.mp4") for v in videos]
    manifest = Manifest(task_id=task_id, created_at=time.time(), options=Options(), videos=entries)
    atomic_write_json(ws.manifest, manifest.model_dump(mode="json"))
    return ws


def _blob_step(size: int) -> object:
    """A per-video step whose output holds ``size`` bytes of data."""

    def run(inp: VideoRef, ctx: StepContext) -> Blob:
        return Blob(video_id=inp.video_id, data="x" * size)

    return step("blob", VideoRef, stage="shots")(run)


def _stage(ws: TaskWorkspace, video_id: str, stage: str) -> str | None:
    stages: dict[str, str] = load_video_progress(ws, video_id)["stages"]
    return stages.get(stage)


# --- parse -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [{"task_id": "t", "video_id": "v"}, '{"task_id":"t","video_id":"v"}', b'{"task_id":"t","video_id":"v"}'],
)
def test_parse_event_takes_a_mapping_or_json_text(event: object) -> None:
    assert parse_event("s", VideoRef, event) == VideoRef(task_id="t", video_id="v")


@pytest.mark.parametrize(
    ("event", "says"),
    [
        (b"{nope", "s: event is not JSON"),
        ({"task_id": "t"}, "s: invalid input at video_id: Field required"),
        ({"task_id": "t", "video_id": "v", "extra": 1}, "s: invalid input at extra"),
        ([1, 2], "s: invalid input at (root)"),
    ],
)
def test_parse_event_refuses_what_is_not_the_input(event: object, says: str) -> None:
    with pytest.raises(InvalidStepInput) as err:
        parse_event("s", VideoRef, event)
    assert err.value.message.startswith(says)


class Nested(StepModel):
    ref: VideoRef


def test_parse_event_names_a_nested_field_by_its_dotted_path() -> None:
    with pytest.raises(InvalidStepInput) as err:
        parse_event("s", Nested, {"ref": {"task_id": "t"}})
    assert err.value.message.startswith("s: invalid input at ref.video_id: Field required")


# --- output size -----------------------------------------------------------------------------------


def test_state_size_is_compact_utf8_json() -> None:
    assert state_size({"a": [1, 2]}) == len('{"a":[1,2]}')
    assert state_size({"名": "视频"}) == len('{"名":"视频"}'.encode())  # 3 bytes a character, not \\u escapes


def test_output_at_the_limit_passes_and_one_byte_more_is_refused() -> None:
    overhead = state_size(Blob(video_id="v1", data="").model_dump(mode="json"))
    fits = Blob(video_id="v1", data="x" * (MAX_STATE_BYTES - overhead))
    assert state_size(dump_output("blob", fits)) == MAX_STATE_BYTES
    with pytest.raises(OutputTooLarge, match=r"blob: output is 65537 bytes"):
        dump_output("blob", Blob(video_id="v1", data="x" * (MAX_STATE_BYTES - overhead + 1)))


class Where(StepModel):
    folder: Path


def test_an_output_is_dumped_as_json_data() -> None:
    """What crosses the engine's JSON boundary: a path becomes its text, not a PosixPath."""
    assert dump_output("where", Where(folder=Path("/ws/tasks/t1"))) == {"folder": "/ws/tasks/t1"}


def test_a_step_whose_output_is_over_64_kib_fails_for_good(settings: Settings) -> None:
    ws = _task(settings)
    handler = _blob_step(MAX_STATE_BYTES)
    with pytest.raises(OutputTooLarge):
        handler({"task_id": ws.task_id, "video_id": "v1"}, StepContext(settings=settings))  # type: ignore[operator]
    assert _stage(ws, "v1", "shots") == "failed"
    assert load_video_progress(ws, "v1")["error"]["code"] == "OutputTooLarge"


# --- stage progress --------------------------------------------------------------------------------


def test_a_stage_is_running_while_the_step_runs_then_ok(settings: Settings) -> None:
    ws = _task(settings)
    seen: list[str | None] = []

    def run(inp: VideoRef, ctx: StepContext) -> VideoRef:
        seen.append(_stage(ws, inp.video_id, "media"))
        return inp

    handler = step("media-like", VideoRef, stage="media")(run)
    assert handler({"task_id": ws.task_id, "video_id": "v1"}, StepContext(settings=settings)) == {
        "task_id": ws.task_id,
        "video_id": "v1",
    }
    assert seen == ["running"] and _stage(ws, "v1", "media") == "ok"


@pytest.mark.parametrize(
    ("raised", "status", "code"),
    [
        (CorruptVideo("moov atom not found"), "failed", "CorruptVideo"),  # permanent: the end
        (NetworkError("reset"), "running", "Transient.Network"),  # transient: the flow retries
        (RuntimeError("bug"), "running", "FC.Unknown"),  # a crash: retried too, RecordFailure ends it
    ],
)
def test_how_a_stage_ends_when_the_step_raises(
    settings: Settings, raised: Exception, status: str, code: str
) -> None:
    ws = _task(settings)
    ctx = StepContext(settings=settings)
    with pytest.raises(type(raised)), stage_progress(ctx, "media", {"task_id": ws.task_id, "video_id": "v1"}):
        raise raised
    state = load_video_progress(ws, "v1")
    assert state["stages"]["media"] == status and state["error"]["code"] == code


def test_an_optional_stage_that_fails_is_skipped_and_the_video_goes_on(settings: Settings) -> None:
    ws = _task(settings)
    ctx = StepContext(settings=settings)
    ids = {"task_id": ws.task_id, "video_id": "v1"}
    with pytest.raises(ModelUnavailable), stage_progress(ctx, "ocr", ids):
        raise ModelUnavailable("on-screen text needs rapidocr-onnxruntime")  # permanent, caught by the flow
    assert _stage(ws, "v1", "ocr") == "skipped"
    assert snapshot(ws).videos[0].status != "failed"


def test_an_optional_stage_still_retrying_when_the_video_moves_on_ends_skipped(settings: Settings) -> None:
    ws = _task(settings)
    ctx = StepContext(settings=settings)
    ids = {"task_id": ws.task_id, "video_id": "v1"}
    with pytest.raises(NetworkError), stage_progress(ctx, "ocr", ids):
        raise NetworkError("reset")  # the flow retried, gave up and went on (Catch → NoScreenText)
    assert _stage(ws, "v1", "ocr") == "running"
    settle_optional_stages(ws, "v1")  # what Analyze does first
    assert _stage(ws, "v1", "ocr") == "skipped"
    assert read_json(ws.progress_dir / "v1" / "ocr.json")["error"]["code"] == "Transient.Network"
    record_stage(ws, "v1", "shots", "running")
    settle_optional_stages(ws, "v1")  # only optional stages are settled
    assert _stage(ws, "v1", "shots") == "running"


def test_a_step_without_a_stage_records_no_progress(settings: Settings) -> None:
    ws = _task(settings)
    with stage_progress(StepContext(settings=settings), None, {"task_id": ws.task_id, "video_id": "v1"}):
        pass
    assert not ws.progress_dir.exists()


def test_progress_goes_to_the_sink_of_the_context(settings: Settings) -> None:
    ws = _task(settings)
    updates: list[ProgressUpdate] = []
    ctx = StepContext(settings=settings, progress=ProgressSink([updates.append]))
    _blob_step(10)({"task_id": ws.task_id, "video_id": "v1"}, ctx)  # type: ignore[operator]
    assert [(u.video_id, u.stage, u.status) for u in updates] == [
        ("v1", "shots", "running"),
        ("v1", "shots", "ok"),
    ]


@pytest.mark.parametrize("task_id", ["t_missing", "t_rt"])
def test_a_video_of_no_task_is_refused_and_nothing_is_written(settings: Settings, task_id: str) -> None:
    _task(settings)  # t_rt exists, with v1 only
    handler = _blob_step(10)
    with pytest.raises(InvalidStepInput):
        handler({"task_id": task_id, "video_id": "v9"}, StepContext(settings=settings))  # type: ignore[operator]
    ws = TaskWorkspace(settings.workspace, task_id)
    assert not (ws.progress_dir / "v9").exists() and not (ws.dir / "videos" / "v9").exists()
    assert (ws.dir.exists()) is (task_id == "t_rt")


# --- log context -----------------------------------------------------------------------------------


def test_log_context_binds_the_ids_and_logs_how_the_step_ended(settings: Settings) -> None:
    ctx = StepContext(settings=settings, execution="ex-1", request_id="req-1")
    with capture_logs() as logs, log_context("fetch", ctx, {"task_id": "t1", "video_id": "v1"}):
        bound = structlog.contextvars.get_contextvars()
        ctx.log.info("fetch.started")
    assert bound == {
        "step": "fetch",
        "execution": "ex-1",
        "request_id": "req-1",
        "task_id": "t1",
        "video_id": "v1",
    }
    assert structlog.contextvars.get_contextvars() == {}  # cleared after the step
    assert [e["event"] for e in logs] == ["fetch.started", "step.done"]
    with capture_logs() as logs, pytest.raises(CorruptVideo), log_context("fetch", ctx, {}):
        raise CorruptVideo("bad")
    assert logs[-1]["event"] == "step.failed" and logs[-1]["code"] == "CorruptVideo"
    with capture_logs() as logs, pytest.raises(KeyError), log_context("fetch", ctx, {}):
        raise KeyError("x")
    assert logs[-1]["event"] == "step.crashed" and logs[-1]["log_level"] == "error"


# --- the context -----------------------------------------------------------------------------------


def test_an_engine_task_context_brings_settings_and_the_sink(settings: Settings) -> None:
    sink = ProgressSink()
    task_ctx = flows.TaskContext(
        "req-9", "ex-9", "Shots", "Videos/0/Shots", 0, 12.5, step_services(settings, sink)
    )
    ctx = step_context(task_ctx)
    assert (ctx.settings, ctx.progress, ctx.request_id, ctx.execution, ctx.deadline) == (
        settings,
        sink,
        "req-9",
        "ex-9",
        12.5,
    )
    assert step_context(ctx) is ctx


def test_a_context_that_brings_nothing_gets_a_fresh_request_id_and_a_sink_from_settings(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import steps._progress.sink as sink_module

    built_for: list[object] = []
    monkeypatch.setattr(sink_module, "REPORTERS_FROM_SETTINGS", (lambda s: built_for.append(s),))
    ctx = step_context(types.SimpleNamespace(services={"settings": settings}))
    assert ctx.settings is settings and re.fullmatch(r"[0-9a-f]{32}", ctx.request_id)
    assert (ctx.execution, ctx.deadline) == ("", None)
    assert isinstance(ctx.progress, ProgressSink) and built_for == [settings]
    services = step_services(settings)
    assert isinstance(services["progress"], ProgressSink) and built_for == [settings, settings]
    assert isinstance(step_context(None), StepContext)  # no context at all: settings of the process


def test_a_step_run_in_its_own_process_reports_to_what_the_settings_enable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Function Compute: no engine hands over a sink; ``progress_sink(settings)`` builds one per instance."""
    import steps._progress.sink as sink_module

    ws = _task(settings)
    heard: list[ProgressUpdate] = []
    monkeypatch.setattr(sink_module, "REPORTERS_FROM_SETTINGS", (lambda s: heard.append,))
    app = FCStep("record-failure", settings)
    event = {"task_id": ws.task_id, "video_id": "v1", "error": {"Code": "CorruptVideo", "Detail": "bad"}}
    response = app.invoke(json.dumps(event).encode(), {"x-fc-request-id": "r1"})
    assert response.status == 200
    assert [(u.video_id, u.status) for u in heard] == [("v1", "failed")]


# --- a refused request writes nothing (issue 8, item 9) --------------------------------------------


@pytest.mark.parametrize("name", ["fetch", "media", "transcribe", "shots", "analyze", "record-failure"])
def test_an_invoke_for_a_task_that_does_not_exist_writes_nothing(settings: Settings, name: str) -> None:
    event: dict[str, object] = {"task_id": "t_nope", "video_id": "v1"}
    if name == "record-failure":
        event["error"] = {"Code": "CorruptVideo", "Detail": "bad"}
    with serving(name, settings) as server:
        url = f"http://127.0.0.1:{server.port}/invoke"
        resp = httpx.post(url, content=json.dumps(event).encode(), timeout=30)
    assert resp.status_code == 404 and resp.json()["errorCode"] == "InvalidStepInput"
    assert "t_nope" in resp.json()["errorMessage"]
    assert not (Path(settings.workspace) / "tasks" / "t_nope").exists()
