"""Function Compute's event-function contract (``steps.FCStep``) running real steps, without HTTP."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from steps import (
    MAX_EVENT_BYTES,
    FCResponse,
    FCStep,
    Settings,
    StepNotFound,
    load_progress,
    read_json,
    registry,
    serve_steps,
)
from steps._fc import MAX_EVENT_DEPTH, context_from_headers, resolve_step
from steps._registry import STEPS, step_module
from tests.steps._ws import write_manifest


def strict_json(data: bytes) -> Any:
    """Parse as a strict JSON parser would: NaN and Infinity are errors."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(data, parse_constant=refuse)


def invoke(settings: Settings, step: str, event: object, **headers: str) -> tuple[FCResponse, Any]:
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    resp = FCStep(step, settings).invoke(body, headers)
    return resp, strict_json(resp.body)


def test_record_failure_writes_the_failure(settings: Settings) -> None:
    ws = write_manifest(settings, "t_fc", {"v1": "/in/v1.mp4"})
    event = {"task_id": "t_fc", "video_id": "v1", "error": {"Code": "CorruptVideo", "Detail": "moov atom"}}

    resp, body = invoke(settings, "video-insight-record-failure", event, **{"x-fc-request-id": "req-1"})

    assert resp.status == 200
    assert body == {"video_id": "v1", "status": "failed"}
    failure = read_json(ws.video_dir("v1") / "failure.json")
    assert (failure["code"], failure["message"]) == ("CorruptVideo", "moov atom")
    video = next(v for v in load_progress(ws)[1] if v["video_id"] == "v1")
    assert video["error"]["code"] == "CorruptVideo"


def test_typed_error_is_an_fc_function_error_with_its_code(settings: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "gone.mp4"
    ws = write_manifest(settings, "t_err", {"v1": str(missing)})

    resp, body = invoke(settings, "fetch", {"task_id": "t_err", "video_id": "v1"})

    assert resp.status == 404
    assert resp.headers["x-fc-status"] == "404"
    assert body["errorCode"] == "SourceNotFound"
    assert str(missing) in body["errorMessage"]
    assert body["errorType"] == "SourceNotFound"
    video = next(v for v in load_progress(ws)[1] if v["video_id"] == "v1")
    assert video["stages"]["fetch"] == "failed"


def test_event_not_matching_the_step_input_is_invalid_step_input(settings: Settings) -> None:
    resp, body = invoke(settings, "record-failure", {"task_id": "t", "video_id": "v1"})
    assert resp.status == 404
    assert body["errorCode"] == "InvalidStepInput"
    assert "error" in body["errorMessage"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"task_id": ', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b"", "got an empty body"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b'{"payload": NaN}', "NaN is not a JSON number"),
        (b'{"payload": -Infinity}', "-Infinity is not a JSON number"),
        (b'{"payload": 1e400}', "number 1e400 is out of range"),
        (b'{"payload": ' + b"7" * 5000 + b"}", "not valid JSON"),  # Python's int digit limit
        (b"[" * 200_000 + b"]" * 200_000, f"deeper than {MAX_EVENT_DEPTH} levels"),  # RecursionError
        (b'{"a": ' + b'{"a": ' * MAX_EVENT_DEPTH + b"1" + b"}" * (MAX_EVENT_DEPTH + 1), "deeper than"),
    ],
)
def test_malformed_event_is_400_with_the_reason(settings: Settings, body: bytes, says: str) -> None:
    resp, answer = invoke(settings, "cleanup", body)
    assert resp.status == 400
    assert resp.headers["x-fc-status"] == "404"
    assert answer["errorCode"] == "InvalidStepInput"
    assert says in answer["errorMessage"]


def test_an_event_exactly_at_the_depth_limit_runs(settings: Settings) -> None:
    nested = b'{"a": ' * (MAX_EVENT_DEPTH - 1) + b"1" + b"}" * (MAX_EVENT_DEPTH - 1)
    event = b'{"payload": "1h", "extra": ' + nested + b"}"  # TimerEvent ignores unknown fields
    resp, body = invoke(settings, "cleanup", event)
    assert resp.status == 200, body
    assert body["older_than_s"] == 3600


def test_event_over_the_sync_payload_limit_is_413(settings: Settings) -> None:
    resp, body = invoke(settings, "cleanup", b" " * (MAX_EVENT_BYTES + 1))
    assert resp.status == 413
    assert body["errorCode"] == "EntityTooLarge"


def test_a_result_holding_nan_or_infinity_is_refused_with_its_path(settings: Settings) -> None:
    fc = FCStep("publish", settings)
    resp = fc.result({"task_id": "t1", "counts": {"ok": 1}, "videos": [{"ctr": 0.1}, {"ctr": float("inf")}]})
    body = strict_json(resp.body)
    assert resp.status == 404
    assert resp.headers["x-fc-status"] == "404"
    assert body["errorCode"] == "InvalidStepOutput"
    assert "$.videos[1].ctr = inf" in body["errorMessage"]
    assert strict_json(fc.result({"ok": 1.5}).body) == {"ok": 1.5}


def test_cleanup_timer_removes_only_stale_tasks(settings: Settings) -> None:
    old = write_manifest(settings, "t_old", {"v1": "/in/v1.mp4"})
    write_manifest(settings, "t_new", {"v1": "/in/v1.mp4"})
    past = time.time() - 3 * 3600
    for path in [old.dir, *old.dir.rglob("*")]:
        os.utime(path, (past, past))
    timer_event = {"triggerTime": "2026-11-27T03:00:00Z", "triggerName": "daily", "payload": "2h"}

    resp, body = invoke(settings, "cleanup", timer_event)

    assert resp.status == 200
    assert body == {"older_than_s": 7200, "removed_count": 1, "removed": ["t_old"]}
    assert not old.dir.exists()
    assert (settings.workspace / "tasks" / "t_new").is_dir()


@pytest.mark.parametrize(
    ("payload", "says"), [("soon", "invalid duration 'soon'"), ("9" * 400 + "s", "too large")]
)
def test_cleanup_refuses_a_bad_timer_payload_in_valid_json(
    settings: Settings, payload: str, says: str
) -> None:
    write_manifest(settings, "t_kept", {"v1": "/in/v1.mp4"})
    resp, body = invoke(settings, "cleanup", {"payload": payload})  # strict_json: no Infinity in the answer
    assert resp.status == 404
    assert body["errorCode"] == "InvalidStepInput"
    assert says in body["errorMessage"]
    assert len(body["errorMessage"]) < 200  # an excerpt of the payload, not all of it
    assert (settings.workspace / "tasks" / "t_kept").is_dir()


def test_initialize_imports_a_step_without_warm_up(settings: Settings) -> None:
    resp = FCStep("analyze", settings).initialize()
    assert resp.status == 200
    assert strict_json(resp.body)["step"] == "analyze"


def test_initialize_reports_a_missing_model_and_still_succeeds(settings: Settings, tmp_path: Path) -> None:
    from dataclasses import replace

    broken = replace(settings, asr_engine="whisper", whisper_model=str(tmp_path / "no-model"))
    resp = FCStep("transcribe", broken).initialize()
    assert resp.status == 200  # a request may still choose an engine that is there
    assert strict_json(resp.body)["initialized"] is True


@pytest.mark.slow
def test_initialize_loads_the_speech_model_for_transcribe(settings: Settings) -> None:
    from steps._asr import whisper_engine

    whisper_engine._MODELS.clear()  # another test may have loaded it already
    resp = FCStep("transcribe", settings).initialize()
    assert resp.status == 200, resp.body
    assert whisper_engine._MODELS, "the Whisper model should be loaded by /initialize"
    # the model `auto` picks without FunASR's models: the multilingual base, not tiny.en
    assert any("whisper-base" in path for path, *_ in whisper_engine._MODELS), list(whisper_engine._MODELS)


def test_context_from_fc_headers(settings: Settings) -> None:
    ctx = context_from_headers(
        {"X-Fc-Request-Id": "1-abc", "X-Fc-Function-Timeout": "900"}, settings, now=100.0
    )
    assert ctx.request_id == "1-abc"
    assert ctx.deadline == pytest.approx(1000.0)
    for bad in ("soon", "inf", "nan", "-5"):
        bare = context_from_headers({"x-fc-function-timeout": bad}, settings, now=100.0)
        assert bare.deadline is None
        assert len(bare.request_id) == 32


def test_step_names_resolve_from_either_spelling() -> None:
    assert resolve_step("video-insight-record-failure") == "record-failure"
    assert resolve_step("shots") == "shots"
    assert resolve_step("cleanup") == "cleanup"
    with pytest.raises(StepNotFound, match=r"unknown step 'video-insight-gateway'.*record-failure"):
        FCStep("video-insight-gateway", Settings())


def test_every_served_step_is_a_module_with_its_handler_and_only_flow_steps_have_arns() -> None:
    for name in serve_steps():
        module = step_module(name)
        assert module.handler.step_name == name, name
    arns = {arn.rsplit("/", 1)[1] for arn in registry()}
    assert arns == {f"video-insight-{s}" for s, info in STEPS.items() if info.flow_task}
    assert "video-insight-cleanup" not in arns
    assert "cleanup" in serve_steps()
