"""The FC custom-container adapter over a real loopback HTTP server, running real steps."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from steps import (
    Manifest,
    Options,
    Settings,
    StepApp,
    StepNotFound,
    TaskWorkspace,
    VideoEntry,
    atomic_write_json,
    load_progress,
    make_step_server,
    read_json,
)
from steps._fc import MAX_EVENT_BYTES, context_from_headers, resolve_step
from video_insight._serve import pick_step
from video_insight.cli import main


class Served:
    """A step served on a free loopback port, with an httpx client bound to it."""

    def __init__(self, step: str, settings: Settings) -> None:
        self.app = StepApp(step, settings)
        self.server = make_step_server(self.app, "127.0.0.1", 0)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    def invoke(self, event: object, **headers: str) -> httpx.Response:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        fc_headers = {"content-type": "application/octet-stream", **headers}
        return self.client.post("/invoke", content=body, headers=fc_headers)

    def close(self) -> None:
        self.client.close()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def serve(settings: Settings) -> Iterator[Callable[[str], Served]]:
    started: list[Served] = []

    def start(step: str) -> Served:
        served = Served(step, settings)
        started.append(served)
        return served

    yield start
    for served in started:
        served.close()


def _task(settings: Settings, task_id: str, videos: dict[str, str]) -> TaskWorkspace:
    ws = TaskWorkspace(settings.workspace, task_id)
    entries = [VideoEntry(video_id=v, name=f"{v}.mp4", path=p) for v, p in videos.items()]
    manifest = Manifest(task_id=task_id, created_at=time.time(), options=Options(), videos=entries)
    atomic_write_json(ws.manifest, manifest.model_dump(mode="json"))
    return ws


def test_record_failure_over_http_writes_the_failure(serve, settings: Settings) -> None:
    ws = _task(settings, "t_fc", {"v1": "/in/v1.mp4"})
    served = serve("video-insight-record-failure")
    event = {
        "task_id": "t_fc",
        "video_id": "v1",
        "error": {"Code": "CorruptVideo", "Detail": "moov atom not found"},
    }

    resp = served.invoke(event, **{"x-fc-request-id": "req-1", "x-fc-function-timeout": "60"})

    assert resp.status_code == 200, resp.text
    assert resp.json() == {"video_id": "v1", "status": "failed"}
    failure = read_json(ws.video_dir("v1") / "failure.json")
    assert failure["code"] == "CorruptVideo"
    assert failure["message"] == "moov atom not found"
    video = next(v for v in load_progress(ws)[1] if v["video_id"] == "v1")
    assert video["error"]["code"] == "CorruptVideo"


def test_typed_error_is_an_fc_function_error_with_its_code(serve, settings: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "gone.mp4"
    ws = _task(settings, "t_err", {"v1": str(missing)})
    served = serve("fetch")

    resp = served.invoke({"task_id": "t_err", "video_id": "v1"})

    assert resp.status_code == 404
    assert resp.headers["x-fc-status"] == "404"
    body = resp.json()
    assert body["errorCode"] == "SourceNotFound"
    assert str(missing) in body["errorMessage"]
    assert body["errorType"] == "SourceNotFound"
    video = next(v for v in load_progress(ws)[1] if v["video_id"] == "v1")
    assert video["stages"]["fetch"] == "failed"


def test_event_not_matching_the_step_input_is_invalid_step_input(serve) -> None:
    resp = serve("record-failure").invoke({"task_id": "t", "video_id": "v1"})
    assert resp.status_code == 404
    assert resp.json()["errorCode"] == "InvalidStepInput"
    assert "error" in resp.json()["errorMessage"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"task_id": ', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"", "must be a JSON object"),
    ],
)
def test_malformed_body_is_400_and_the_server_keeps_serving(serve, body: bytes, says: str) -> None:
    served = serve("record-failure")
    resp = served.invoke(body)
    assert resp.status_code == 400
    assert resp.headers["x-fc-status"] == "404"
    assert resp.json()["errorCode"] == "InvalidStepInput"
    assert says in resp.json()["errorMessage"]
    assert served.client.get("/health").json() == {"status": "ok", "step": "record-failure"}


def test_body_over_the_sync_payload_limit_is_refused_unread(serve) -> None:
    served = serve("record-failure")
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    conn.putrequest("POST", "/invoke")
    conn.putheader("Content-Length", str(MAX_EVENT_BYTES + 1))
    conn.endheaders()  # no body is sent: the server must answer from the header alone
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    assert resp.status == 413
    assert body["errorCode"] == "EntityTooLarge"


def test_health_initialize_and_unknown_routes(serve) -> None:
    served = serve("analyze")
    assert served.client.get("/health").status_code == 200
    init = served.client.post("/initialize", content=b"")
    assert init.status_code == 200
    assert init.json()["step"] == "analyze"
    assert served.client.post("/nope", content=b"{}").status_code == 404
    assert served.client.get("/invoke").status_code == 405


@pytest.mark.slow
def test_initialize_loads_the_speech_model_for_transcribe(serve) -> None:
    from steps._asr import whisper_engine

    whisper_engine._MODELS.clear()  # another test may have loaded it already
    served = serve("transcribe")
    resp = served.client.post("/initialize", content=b"")
    assert resp.status_code == 200, resp.text
    assert whisper_engine._MODELS, "the Whisper model should be loaded by /initialize"


def test_cleanup_timer_removes_only_stale_tasks(serve, settings: Settings) -> None:
    old = _task(settings, "t_old", {"v1": "/in/v1.mp4"})
    _task(settings, "t_new", {"v1": "/in/v1.mp4"})
    past = time.time() - 3 * 3600
    for path in [old.dir, *old.dir.rglob("*")]:
        os.utime(path, (past, past))
    served = serve("cleanup")
    timer_event = {"triggerTime": "2026-11-27T03:00:00Z", "triggerName": "daily", "payload": "2h"}

    resp = served.invoke(timer_event)

    assert resp.status_code == 200, resp.text
    assert resp.json()["removed"] == ["t_old"]
    assert not old.dir.exists()
    assert (settings.workspace / "tasks" / "t_new").is_dir()
    bad = served.invoke({**timer_event, "payload": "soon"})
    assert bad.status_code == 404
    assert bad.json()["errorCode"] == "InvalidStepInput"


def test_context_from_fc_headers(settings: Settings) -> None:
    ctx = context_from_headers(
        {"X-Fc-Request-Id": "1-abc", "X-Fc-Function-Timeout": "900"}, settings, now=100.0
    )
    assert ctx.request_id == "1-abc"
    assert ctx.deadline == pytest.approx(1000.0)
    bare = context_from_headers({"x-fc-function-timeout": "soon"}, settings, now=100.0)
    assert bare.deadline is None
    assert len(bare.request_id) == 32


def test_step_names_resolve_from_flag_or_function_name() -> None:
    assert resolve_step("video-insight-record-failure") == "record-failure"
    assert resolve_step("shots") == "shots"
    assert pick_step(None, {"FC_FUNCTION_NAME": "video-insight-publish"}) == "video-insight-publish"
    assert pick_step("fetch", {"FC_FUNCTION_NAME": "video-insight-publish"}) == "fetch"
    with pytest.raises(StepNotFound, match="FC_FUNCTION_NAME"):
        pick_step(None, {})
    with pytest.raises(StepNotFound, match=r"unknown step 'video-insight-gateway'.*record-failure"):
        StepApp("video-insight-gateway", Settings())


def test_cli_refuses_an_unknown_step_at_start(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve-step", "--step", "transcode"]) == 2
    err = capsys.readouterr().err
    assert "unknown step 'transcode'" in err
    assert "fetch" in err
