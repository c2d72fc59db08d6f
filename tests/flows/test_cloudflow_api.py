"""The CloudFlow client (real fnf SDK) against the local CloudFlow endpoint, over HTTP on loopback.

The endpoint's Tasks call a real ``serve-step`` server (the cleanup step: fast, no media). Wait
states sleep on a gate the test opens, so "still running" is a state the test holds, not a race.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from alibabacloud_fnf20190315 import models as fnf
from alibabacloud_fnf20190315.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import flows
from flows import CloudFlowConfig, CloudFlowEngine, CloudFlowError, ExecutionStatus
from steps import FCStep, Settings
from video_insight._http import HttpServer
from video_insight._step_app import step_app

KEY, SECRET = "test-key", "test-secret"
TINY = """
Type: StateMachine
Name: {name}
SpecVersion: v1
StartAt: Hold
States:
  - Type: Wait
    Name: Hold
    Seconds: 1
    Next: Clean
  - Type: Task
    Name: Clean
    Action: FC:InvokeFunction
    TaskMode: RequestComplete
    Parameters:
      resourceArn: acs:fc:::functions/video-insight-cleanup
      invocationType: Sync
      body:
        payload.$: $Input.older_than
    OutputConstructor:
      removed.$: $Output.Body.removed_count
    Catch:
      - Errors: [FnF.ALL]
        Description: keep the function's error
        OutputConstructor:
          error.$: $Context.Current.Error
        Next: Caught
    End: true
  - Type: Pass
    Name: Caught
    End: true
"""
MANY = """
Type: StateMachine
Name: many
SpecVersion: v1
StartAt: Items
States:
  - Type: Map
    Name: Items
    ItemsPath: $Input.items
    Processor:
      StartAt: One
      States:
        - Type: Pass
          Name: One
          End: true
    OutputConstructor:
      items.$: $Output.Items
    End: true
"""


def serve(app: Any) -> tuple[HttpServer, threading.Thread]:
    server = HttpServer(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, thread


@dataclass
class Endpoint:
    url: str
    gate: threading.Event
    service: flows.LocalCloudFlow
    functions: flows.HttpFunctions

    def engine(self, flow: str = "tiny", **kw: Any) -> CloudFlowEngine:
        config = CloudFlowConfig(endpoint=self.url, flow=flow, access_key_id=KEY, access_key_secret=SECRET)
        return CloudFlowEngine(CloudFlowConfig(**{**config.__dict__, **kw}), sleep=lambda s: None)

    def sdk(self, secret: str = SECRET, key: str = KEY) -> Client:
        host = self.url.removeprefix("http://")
        return Client(Config(access_key_id=key, access_key_secret=secret, endpoint=host, protocol="http"))


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    root = tmp_path_factory.mktemp("cloudflow")
    settings = Settings(workspace=root / "ws")
    step, step_thread = serve(step_app(FCStep("cleanup", settings)))
    functions = flows.HttpFunctions({"video-insight-cleanup": f"http://127.0.0.1:{step.port}"})
    gate = threading.Event()
    service = flows.LocalCloudFlow(root / "local", functions, sleep=lambda s: gate.wait(30))
    server, thread = serve(flows.cloudflow_app(service, {KEY: SECRET}))
    ep = Endpoint(f"http://127.0.0.1:{server.port}", gate, service, functions)
    ep.engine().deploy(TINY.format(name="tiny"))
    yield ep
    gate.set()
    for srv, th in ((server, thread), (step, step_thread)):
        srv.stop()
        th.join(15)
    functions.close()


@pytest.fixture
def gate(endpoint: Endpoint) -> Iterator[threading.Event]:
    endpoint.gate.clear()
    yield endpoint.gate
    endpoint.gate.set()


def test_start_is_idempotent_while_running_and_refused_after(
    endpoint: Endpoint, gate: threading.Event
) -> None:
    engine = endpoint.engine()
    assert isinstance(engine, flows.ExecutionEngine)
    first = engine.start("run-1", {"older_than": "2h"})
    assert first.status is ExecutionStatus.RUNNING and first.input == {"older_than": "2h"}
    again = engine.start("run-1", {"older_than": "5h"})  # same name while running: that execution
    assert (again.name, again.status, again.input) == ("run-1", ExecutionStatus.RUNNING, {"older_than": "2h"})
    assert [e.name for e in engine.list()].count("run-1") == 1
    gate.set()
    done = engine.wait("run-1", timeout=30)
    assert done.status is ExecutionStatus.SUCCEEDED and done.output == {"removed": 0}
    assert done.stopped is not None and done.started is not None and done.stopped >= done.started
    with pytest.raises(flows.ExecutionAlreadyExists):
        engine.start("run-1", {"older_than": "2h"})
    types = [e["type"] for e in engine.history("run-1")]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert "TaskSucceeded" in types and "StateEntered" in types  # the engine's names, back from CloudFlow's


def test_a_function_error_reaches_catch_with_its_code(endpoint: Endpoint, gate: threading.Event) -> None:
    gate.set()
    engine = endpoint.engine()
    engine.start("run-bad", {"older_than": "soon"})
    done = engine.wait("run-bad", timeout=30)
    assert done.status is ExecutionStatus.SUCCEEDED
    error = done.output["error"]
    assert error["Code"] == "InvalidStepInput" and "errorMessage" in error["Detail"]


def test_stop(endpoint: Endpoint, gate: threading.Event) -> None:
    engine = endpoint.engine()
    engine.start("run-stop", {"older_than": "2h"})
    stopped = engine.stop("run-stop", error="Cancelled", cause="用户取消")
    assert stopped.status is ExecutionStatus.STOPPED
    assert stopped.error == {"Code": "Cancelled", "Detail": "用户取消"}
    assert engine.describe("run-stop").status is ExecutionStatus.STOPPED
    with pytest.raises(flows.ExecutionNotRunning):
        engine.stop("run-stop")
    with pytest.raises(flows.ExecutionNotFound):
        engine.describe("never-started")


def test_history_pages(endpoint: Endpoint, gate: threading.Event) -> None:
    engine = endpoint.engine("many")
    assert engine.deploy(MANY) == "created"
    engine.start("m1", {"items": list(range(110))})
    assert engine.wait("m1", timeout=30).output == {"items": list(range(110))}
    events = engine.history("m1")
    assert len(events) > 2 * flows_page() and [e["id"] for e in events] == list(range(1, len(events) + 1))
    sdk = endpoint.sdk()
    page = sdk.get_execution_history(
        fnf.GetExecutionHistoryRequest(flow_name="many", execution_name="m1", limit=7)
    ).body
    assert len(page.events) == 7 and page.next_token
    rest = sdk.get_execution_history(
        fnf.GetExecutionHistoryRequest(
            flow_name="many", execution_name="m1", limit=7, next_token=page.next_token
        )
    ).body
    assert rest.events[0].event_id == 8


def flows_page() -> int:
    from flows._cloudflow import PAGE

    return PAGE


def test_wrong_secret_and_unknown_key_get_the_services_codes(endpoint: Endpoint) -> None:
    request = fnf.DescribeFlowRequest(name="tiny")
    with pytest.raises(ClientException) as bad:
        endpoint.sdk(secret="wrong").describe_flow(request)
    assert (bad.value.code, bad.value.status_code) == ("SignatureDoesNotMatch", 400)
    with pytest.raises(ClientException) as unknown:
        endpoint.sdk(key="nobody").describe_flow(request)
    assert (unknown.value.code, unknown.value.status_code) == ("InvalidAccessKeyId.NotFound", 404)
    assert endpoint.sdk().describe_flow(request).body.name == "tiny"
    with pytest.raises(CloudFlowError, match=r"refused the credentials.*ALIBABA_CLOUD_ACCESS_KEY_ID"):
        endpoint.engine(access_key_secret="wrong").list()


def test_unknown_flow_and_wrong_region_are_one_clear_line(endpoint: Endpoint) -> None:
    with pytest.raises(CloudFlowError, match=r"flow 'nope' does not exist.*video-insight deploy") as exc:
        endpoint.engine("nope").start("x1", {})
    assert "\n" not in str(exc.value)
    with pytest.raises(ClientException) as raw:
        endpoint.sdk().describe_execution(fnf.DescribeExecutionRequest(flow_name="nope", execution_name="x1"))
    assert (raw.value.code, raw.value.status_code) == ("FlowNotExists", 404)
    with pytest.raises(CloudFlowError, match=r"not offered in region 'cn-nowhere'.*VI_CLOUDFLOW_REGION"):
        CloudFlowEngine(CloudFlowConfig(region="cn-nowhere"))
    with pytest.raises(CloudFlowError, match=r"cannot reach CloudFlow at http://127\.0\.0\.1:9"):
        endpoint.engine(endpoint="http://127.0.0.1:9", retries=0).list()


def test_deploy_creates_then_updates(endpoint: Endpoint) -> None:
    engine = endpoint.engine("twice")
    assert engine.deploy(TINY.format(name="twice"), role_arn="acs:ram::1:role/fnf") == "created"
    changed = TINY.format(name="twice").replace("Seconds: 1", "Seconds: 2")
    assert engine.deploy(changed) == "updated"
    flow = endpoint.sdk().describe_flow(fnf.DescribeFlowRequest(name="twice")).body
    assert flow.definition == changed and flow.role_arn == "acs:ram::1:role/fnf"
    with pytest.raises(CloudFlowError, match="invalid flow definition"):
        engine.deploy("Type: StateMachine\nName: twice\nSpecVersion: v1\nStartAt: X\nStates: []\n")
    sdk = endpoint.sdk()
    assert "twice" in [f.name for f in sdk.list_flows(fnf.ListFlowsRequest()).body.flows]
    sdk.delete_flow(fnf.DeleteFlowRequest(name="twice"))
    with pytest.raises(ClientException) as gone:
        sdk.describe_flow(fnf.DescribeFlowRequest(name="twice"))
    assert gone.value.code == "FlowNotExists"


def test_throttling_and_5xx_are_retried_with_backoff(tmp_path: Path) -> None:
    answers = iter(
        [
            (429, {"Code": "Throttling.User", "Message": "Request was denied due to user flow control."}),
            (503, {"Code": "ServiceUnavailable", "Message": "busy"}),
            (200, {"Name": "e1", "FlowName": "f", "Status": "Succeeded", "Output": '{"ok":true}'}),
        ]
    )
    seen: list[str] = []

    async def rpc(request: Request) -> JSONResponse:
        seen.append(request.query_params["Action"])
        status, body = next(answers)
        return JSONResponse({"RequestId": "r", **body}, status)

    server, thread = serve(Starlette(routes=[Route("/", rpc, methods=["GET", "POST"])]))
    waits: list[float] = []
    try:
        config = CloudFlowConfig(
            endpoint=f"http://127.0.0.1:{server.port}", flow="f", access_key_id=KEY, access_key_secret=SECRET
        )
        execution = CloudFlowEngine(config, sleep=waits.append).describe("e1")
    finally:
        server.stop()
        thread.join(15)
    assert execution.status is ExecutionStatus.SUCCEEDED and execution.output == {"ok": True}
    assert seen == ["DescribeExecution"] * 3
    assert len(waits) == 2 and 0 < waits[0] <= waits[1]


def test_a_functions_temporary_keys_send_their_security_token(tmp_path: Path) -> None:
    """Function Compute gives a function its role's STS keys with a token: without it every call fails."""
    from video_insight._cloudflow import cloudflow_engine

    seen: list[dict[str, str]] = []

    async def rpc(request: Request) -> JSONResponse:
        seen.append(dict(request.query_params))
        return JSONResponse({"RequestId": "r", "Name": "e1", "FlowName": "f", "Status": "Running"})

    server, thread = serve(Starlette(routes=[Route("/", rpc, methods=["GET", "POST"])]))
    env = {
        "VI_WORKSPACE": str(tmp_path),
        "VI_CLOUDFLOW_ENDPOINT": f"http://127.0.0.1:{server.port}",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.key",
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sts-secret",
        "ALIBABA_CLOUD_SECURITY_TOKEN": "sts-token",
    }
    try:
        cloudflow_engine(Settings.from_env(env), "f").describe("e1")
    finally:
        server.stop()
        thread.join(15)
    assert [(p["AccessKeyId"], p.get("SecurityToken")) for p in seen] == [("STS.key", "sts-token")]


def signed(params: dict[str, str], method: str = "GET", secret: str = SECRET) -> dict[str, str]:
    from flows._fnf_wire import rpc_signature

    base = {
        "Format": "json",
        "Version": "2019-03-15",
        "AccessKeyId": KEY,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **params,
    }
    return {**base, "Signature": rpc_signature(base, method, secret)}


def test_replays_stale_requests_and_unknown_actions_are_refused(endpoint: Endpoint) -> None:
    def code(params: dict[str, str]) -> tuple[int, str]:
        resp = httpx.get(endpoint.url, params=params)
        return resp.status_code, resp.json()["Code"]

    ok = signed({"Action": "ListFlows"})
    assert httpx.get(endpoint.url, params=ok).status_code == 200
    assert code(ok) == (400, "SignatureNonceUsed")  # the same request again
    stale = signed({"Action": "ListFlows", "Timestamp": "2020-01-01T00:00:00Z"})
    assert code(stale) == (400, "InvalidTimeStamp.Expired")
    assert code(signed({"Action": "ListFlows", "Version": "2020-01-01"})) == (400, "InvalidVersion")
    assert code(signed({"Action": "RunEverything"})) == (404, "InvalidAction.NotFound")
    assert code(signed({"Action": "_page"})) == (404, "InvalidAction.NotFound")
    unsigned = {k: v for k, v in signed({"Action": "ListFlows"}).items() if k != "Signature"}
    assert code(unsigned) == (400, "MissingParameter")
    tampered = {**signed({"Action": "DescribeFlow", "Name": "tiny"}), "Name": "many"}
    assert code(tampered) == (400, "SignatureDoesNotMatch")


LEAVE_RUNNING = """
import sys
from pathlib import Path
import flows
service = flows.LocalCloudFlow(Path(sys.argv[1]), flows.HttpFunctions({"video-insight-cleanup": "http://127.0.0.1:9"}))
service.save_flow({"Name": "tiny", "Definition": sys.argv[2]}, create=True)
service.start("tiny", "left-over", '{"older_than": "2h"}')
print("started", flush=True)
sys.stdin.read()  # until killed
"""


def test_a_restarted_endpoint_continues_what_its_last_process_left_running(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    root = tmp_path / "local"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    cmd = [sys.executable, "-c", LEAVE_RUNNING, str(root), TINY.format(name="tiny")]
    with subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        while "started" not in (line := proc.stdout.readline()):  # structlog writes to stdout too
            assert line, "the first endpoint process ended before it started the execution"
        proc.kill()  # the endpoint dies while the execution waits in its Wait state
    service = flows.LocalCloudFlow(root, endpoint.functions, sleep=lambda s: None)
    assert service.recover() == ["tiny"]
    done = service.engine("tiny").wait("left-over", timeout=60)
    assert done.status is ExecutionStatus.SUCCEEDED and done.output == {"removed": 0}
    assert "ExecutionResumed" in [e["type"] for e in service.history("tiny", "left-over")]
