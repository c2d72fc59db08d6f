"""``video-insight serve-step``: a step on FC's custom-container routes, over real HTTP and in-process."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from steps import (
    MAX_EVENT_BYTES,
    FCStep,
    Settings,
    StepContext,
    StepNotFound,
    TaskWorkspace,
    atomic_write_json,
    prepare,
    read_json,
)
from tests.cli._served import read_until_closed, serving, strict_json
from tests.httpserver import LocalHTTPServer
from tests.media import MadeVideo
from tests.steps._ws import write_manifest
from video_insight._http import HttpLimits
from video_insight._serve import pick_step
from video_insight._step_app import step_app
from video_insight.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(step_app(FCStep("cleanup", settings))) as test_client:
        yield test_client


def test_routes_answer_json_in_process(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "step": "cleanup"}
    init = client.post("/initialize")
    assert init.status_code == 200 and init.json()["initialized"] is True
    for method, path, status, code in [
        ("POST", "/nope", 404, "NotFound"),
        ("POST", "/invoke/", 404, "NotFound"),
        ("GET", "/invoke", 405, "MethodNotAllowed"),
        ("POST", "/health", 405, "MethodNotAllowed"),
    ]:
        resp = client.request(method, path, content=b"{}")
        assert resp.status_code == status, (method, path)
        assert resp.headers["content-type"] == "application/json"
        assert resp.json()["errorCode"] == code
        assert "POST /invoke" in resp.json()["errorMessage"]
    assert client.get("/invoke").headers["allow"] == "POST"


def test_invoke_in_process_runs_the_step_and_maps_errors(client: TestClient) -> None:
    ok = client.post("/invoke", content=b'{"payload": "2h"}', headers={"x-fc-request-id": "r1"})
    assert ok.status_code == 200
    assert ok.json() == {"older_than_s": 7200, "removed_count": 0, "removed": []}
    bad = client.post("/invoke", content=b"[1]")
    assert (bad.status_code, bad.headers["x-fc-status"]) == (400, "404")
    assert bad.json()["errorCode"] == "InvalidStepInput"


def test_body_over_the_limit_is_413_whether_declared_or_streamed(client: TestClient) -> None:
    declared = client.post("/invoke", content=b"x" * (MAX_EVENT_BYTES + 1))
    streamed = client.post("/invoke", content=iter([b" " * MAX_EVENT_BYTES, b"{}"]))  # chunked, no length
    for resp in (declared, streamed):
        assert resp.status_code == 413
        assert resp.headers["x-fc-status"] == "404"
        assert resp.json()["errorCode"] == "EntityTooLarge"


def test_record_failure_over_http_writes_the_failure(settings: Settings) -> None:
    ws = write_manifest(settings, "t_fc", {"v1": "/in/v1.mp4"})
    event = {"task_id": "t_fc", "video_id": "v1", "error": {"Code": "CorruptVideo", "Detail": "moov"}}
    with serving("video-insight-record-failure", settings) as server:
        resp = httpx.post(
            f"http://127.0.0.1:{server.port}/invoke",
            content=json.dumps(event).encode(),
            headers={"x-fc-request-id": "req-1", "x-fc-function-timeout": "60"},
        )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"video_id": "v1", "status": "failed"}
    assert read_json(ws.video_dir("v1") / "failure.json")["code"] == "CorruptVideo"


def test_a_step_running_past_the_body_deadline_is_not_cut(
    settings: Settings, silent_video: MadeVideo
) -> None:
    ws = TaskWorkspace(settings.workspace, "t1")
    with LocalHTTPServer() as origin:
        url = origin.file("/clip.mp4", silent_video.path.read_bytes(), delay_s=1.0)  # a slow origin
        atomic_write_json(ws.request, {"videos": [{"name": "clip", "url": url}]})
        (video_id,) = prepare.handler({"task_id": "t1"}, StepContext(settings=settings))["video_ids"]
        with serving("fetch", settings, HttpLimits(head_timeout_s=0.3, body_timeout_s=0.3)) as server:
            resp = httpx.post(
                f"http://127.0.0.1:{server.port}/invoke",
                json={"task_id": "t1", "video_id": video_id},
                timeout=30,
            )
    assert resp.status_code == 200, resp.text
    assert (ws.video_dir(video_id) / "source.mp4").is_file()


def test_deeply_nested_body_gets_a_400_not_a_dropped_connection(settings: Settings) -> None:
    body = b"[" * 200_000 + b"]" * 200_000
    with serving("cleanup", settings) as server, socket.create_connection(("127.0.0.1", server.port)) as conn:
        conn.sendall(b"POST /invoke HTTP/1.1\r\nHost: fc\r\nConnection: close\r\n")
        conn.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        reply = read_until_closed(conn)
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), reply[:200]
    assert strict_json(payload)["errorMessage"].endswith("deeper than 64 levels")


def test_body_over_the_limit_is_refused_unread_and_the_connection_closed(settings: Settings) -> None:
    limits = HttpLimits(keep_alive_s=60)  # the close is the refusal's, not an idle keep-alive's
    with (
        serving("cleanup", settings, limits) as server,
        socket.create_connection(("127.0.0.1", server.port)) as conn,
    ):
        conn.sendall(
            b"POST /invoke HTTP/1.1\r\nHost: fc\r\nContent-Length: %d\r\n\r\n" % (MAX_EVENT_BYTES + 1)
        )
        conn.sendall(b"{" * 1000)  # the start of a body that is never read
        reply = read_until_closed(conn, timeout_s=5)  # the answer comes from the header alone
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert strict_json(payload)["errorCode"] == "EntityTooLarge"


def test_a_cleanup_payload_of_400_digits_is_answered_in_valid_json(settings: Settings) -> None:
    with serving("cleanup", settings) as server:
        resp = httpx.post(f"http://127.0.0.1:{server.port}/invoke", json={"payload": "9" * 400 + "s"})
    body = strict_json(resp.content)  # today's answer held {"older_than_s": Infinity}
    assert resp.status_code == 404
    assert body["errorCode"] == "InvalidStepInput"
    assert "too large" in body["errorMessage"]


# --- fuzzing the body parser over real HTTP --------------------------------------------------------

_FUZZ_TASKS = ["t1", "t_fuzz"]
_FUZZ_VIDEOS = ["v1", "v2"]
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=25,
)
# Half shallow, half nested past the depth Python's json module can parse (about 1,000).
_deep_json_text = (st.integers(1, 50) | st.integers(2_000, 20_000)).map(lambda n: '{"a": ' * n)
_timer_events = st.fixed_dictionaries(
    {},
    optional={
        "payload": st.text(max_size=60) | st.integers().map(str) | _deep_json_text | _json_values,
        "triggerTime": _json_values,
        "triggerName": st.text(max_size=20),
    },
)
_failure_events = st.fixed_dictionaries(  # valid ids, so that the step itself runs
    {
        "task_id": st.sampled_from(_FUZZ_TASKS),
        "video_id": st.sampled_from(_FUZZ_VIDEOS),
        "error": st.fixed_dictionaries(
            {
                "Code": st.text(max_size=20),
                "Detail": st.none() | st.text(max_size=60) | _deep_json_text | _json_values.map(json.dumps),
            },
        ),
    },
)
_any_body = st.one_of(
    st.binary(max_size=300),
    _json_values.map(lambda v: json.dumps(v).encode()),  # json.dumps writes NaN and Infinity
    st.integers(1, 300_000).map(lambda n: b"[" * n),
    st.integers(1, 300_000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.sampled_from([b"NaN", b"-Infinity", b"1e999", b'{"payload": 1e999}', b"7" * 5000]),
)


def _encoded(events: st.SearchStrategy[dict[str, object]]) -> st.SearchStrategy[bytes]:
    plain = events.map(lambda v: json.dumps(v).encode())
    raw_text = events.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    return plain | raw_text  # the second spells lone surrogates as (invalid) UTF-8 bytes


def _body_for(events: st.SearchStrategy[dict[str, object]]) -> st.SearchStrategy[bytes]:
    """Half arbitrary bodies, half events shaped like the step's input (to reach past the parser)."""
    return st.booleans().flatmap(lambda shaped: _encoded(events) if shaped else _any_body)


_BODIES = {"cleanup": _body_for(_timer_events), "record-failure": _body_for(_failure_events)}


@pytest.fixture(scope="module")
def fuzz_targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, httpx.Client]]:
    fuzz_settings = Settings(workspace=tmp_path_factory.mktemp("fuzz-ws"))
    for task_id in _FUZZ_TASKS:  # the tasks record-failure events name exist, so the step runs
        write_manifest(fuzz_settings, task_id, {v: f"/in/{v}.mp4" for v in _FUZZ_VIDEOS})
    with serving("cleanup", fuzz_settings) as cleanup, serving("record-failure", fuzz_settings) as record:
        clients = {
            name: httpx.Client(base_url=f"http://127.0.0.1:{srv.port}", timeout=30)
            for name, srv in (("cleanup", cleanup), ("record-failure", record))
        }
        yield clients
        for c in clients.values():
            c.close()


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), step=st.sampled_from(sorted(_BODIES)))
def test_any_body_gets_a_well_formed_json_answer(
    fuzz_targets: dict[str, httpx.Client], data: st.DataObject, step: str
) -> None:
    body = data.draw(_BODIES[step], label="body")
    client = fuzz_targets[step]
    resp = client.post("/invoke", content=body)  # a dropped connection raises here
    assert resp.status_code in (200, 400, 404), resp.text[:300]
    assert resp.headers["content-type"] == "application/json"
    answer = strict_json(resp.content)
    if resp.status_code != 200:
        assert resp.headers["x-fc-status"] == "404"
        assert isinstance(answer["errorCode"], str) and isinstance(answer["errorMessage"], str)
        assert len(resp.content) < 4096, "an error quotes an excerpt, not the whole input"
    assert client.get("/health").status_code == 200  # the same keep-alive connection still works


# --- the process ---------------------------------------------------------------------------------


def test_sigterm_stops_the_server_gracefully(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "VI_WORKSPACE": str(tmp_path / "ws"),
        "VI_LOG_FORMAT": "json",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [sys.executable, "-m", "video_insight", "serve-step", "--step", "cleanup", "--host", "127.0.0.1"]
    with subprocess.Popen([*cmd, "--port", "0"], env=env, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stderr is not None
            lines: list[str] = []
            while not any("fc.listening" in line for line in lines):
                line = proc.stderr.readline()
                assert line, f"serve-step exited before listening: {''.join(lines)}"
                lines.append(line)
            port = int(re.search(r'"port": (\d+)', lines[-1]).group(1))  # type: ignore[union-attr]
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                assert client.get("/health").json()["step"] == "cleanup"  # an idle keep-alive stays open
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(timeout=20)
            rest = proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 0, rest
    assert '"signal": "SIGTERM"' in rest and "fc.stopped" in rest


def test_step_names_resolve_from_flag_or_function_name() -> None:
    assert pick_step(None, {"FC_FUNCTION_NAME": "video-insight-publish"}) == "video-insight-publish"
    assert pick_step("fetch", {"FC_FUNCTION_NAME": "video-insight-publish"}) == "fetch"
    with pytest.raises(StepNotFound, match="FC_FUNCTION_NAME"):
        pick_step(None, {})


def test_cli_refuses_an_unknown_step_at_start(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve-step", "--step", "transcode"]) == 2
    err = capsys.readouterr().err
    assert "unknown step 'transcode'" in err
    assert "fetch" in err and "cleanup" in err
