"""Tasks over HTTP as CloudFlow calls Function Compute: headers sent, answers mapped to CloudFlow codes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flows import FunctionError, HttpFunctions, TaskContext, function_of_arn
from flows._errors import TaskTimeout
from video_insight._http import HttpServer

ARN = "acs:fc:cn-hangzhou:123:functions/video-insight-fetch"


def test_function_of_arn() -> None:
    assert function_of_arn("acs:fc:::functions/video-insight-fetch") == "video-insight-fetch"
    assert function_of_arn(ARN) == "video-insight-fetch"
    assert function_of_arn("acs:fc:::functions/f/versions/1") == "f"
    assert function_of_arn("acs:oss:::bucket/x") is None and function_of_arn("DashScope:Qwen") is None


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[dict[str, Any]], threading.Event]]:
    seen: list[dict[str, Any]] = []
    release = threading.Event()

    async def invoke(request: Request) -> Response:
        body = json.loads(await request.body())
        seen.append({"headers": dict(request.headers), "body": body})
        mode = body.get("mode")
        if mode == "slow":
            await anyio.to_thread.run_sync(release.wait, 30)
        if mode in ("429", "503", "500"):
            return Response(b"busy", int(mode))
        if mode == "error":
            error = {"errorCode": "DownloadFailed", "errorMessage": "下载失败", "errorType": "DownloadFailed"}
            return Response(json.dumps(error), 404, {"x-fc-status": "404"}, media_type="application/json")
        return Response(json.dumps({"echo": body}), 200, media_type="application/json")

    srv = HttpServer(Starlette(routes=[Route("/invoke", invoke, methods=["POST"])]), "127.0.0.1", 0)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.port}", seen, release
    release.set()
    srv.stop()
    thread.join(15)


def ctx(deadline_s: float | None = None) -> TaskContext:
    deadline = None if deadline_s is None else time.monotonic() + deadline_s
    return TaskContext("req-1", "exec-1", "Fetch", "Videos/0/Fetch", 0, deadline, {})


def test_results_headers_and_codes(server: tuple[str, list[dict[str, Any]], Any]) -> None:
    url, seen, _ = server
    functions = HttpFunctions({"video-insight-fetch": url})
    try:
        assert ARN in functions and "acs:fc:::functions/other" not in functions
        handler = functions[ARN]
        assert handler({"task_id": "t1", "n": "视频"}, ctx(900)) == {"echo": {"task_id": "t1", "n": "视频"}}
        headers = seen[-1]["headers"]
        assert (
            headers["x-fc-request-id"] == "req-1" and headers["x-fc-function-name"] == "video-insight-fetch"
        )
        assert 890 <= int(headers["x-fc-function-timeout"]) <= 900
        for mode, code in [
            ("429", "FC.ResourceThrottled"),
            ("503", "FC.ResourceExhausted"),
            ("500", "FC.InternalServerError"),
        ]:
            with pytest.raises(FunctionError) as exc:
                handler({"mode": mode}, ctx(60))
            assert exc.value.code == code
        with pytest.raises(FunctionError) as err:
            handler({"mode": "error"}, ctx(60))
        assert (
            err.value.code == "DownloadFailed" and json.loads(err.value.detail)["errorMessage"] == "下载失败"
        )
        with pytest.raises(TaskTimeout):
            handler({"mode": "slow"}, ctx(0.5))
    finally:
        functions.close()
    unreachable = HttpFunctions({"video-insight-fetch": "http://127.0.0.1:9"})
    with pytest.raises(FunctionError) as down:
        unreachable[ARN]({}, ctx(5))
    assert down.value.code == "FC.InternalServerError"
    unreachable.close()
