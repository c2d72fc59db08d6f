"""The CloudFlow client: :class:`flows.ExecutionEngine` over Alibaba Cloud's ``fnf`` 2019-03-15 API.

    engine = CloudFlowEngine(CloudFlowConfig(region="cn-hangzhou"))     # credentials: the standard chain
    engine.start("t20261127-1", {"task_id": "t20261127-1"})
    engine.wait("t20261127-1", timeout=600).status

Built on the official SDK (``alibabacloud-fnf20190315``). Credentials come from the config when it
names a key pair (the local endpoint's tests), else from Alibaba Cloud's default chain
(``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``ALIBABA_CLOUD_ACCESS_KEY_SECRET``, the CLI profile, a RAM
role). ``endpoint`` points the client elsewhere (``http://127.0.0.1:8790`` for
``video-insight cloudflow-local``).

Throttling, 5xx answers and dropped connections are retried with exponential backoff; every
other failure is one :class:`CloudFlowError` line saying what to fix (credentials, flow, region),
or the engine interface's own error (``ExecutionNotFound``, ``ExecutionAlreadyExists``,
``ExecutionNotRunning``).
"""

from __future__ import annotations

import builtins
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import tenacity

from ._errors import (
    ExecutionAlreadyExists,
    ExecutionNotFound,
    ExecutionNotResumable,
    ExecutionNotRunning,
    FlowError,
)
from ._fnf_wire import event_from_cloud, parse_time
from ._interface import Execution, ExecutionStatus, HistoryEvent

__all__ = ["CLOUDFLOW_REGIONS", "CloudFlowConfig", "CloudFlowEngine", "CloudFlowError"]

# Regions where CloudFlow (and Serverless Devs' flow component) is offered.
CLOUDFLOW_REGIONS = (
    "cn-beijing",
    "cn-hangzhou",
    "cn-shanghai",
    "cn-qingdao",
    "cn-shenzhen",
    "ap-southeast-1",
    "us-west-1",
    "cn-heyuan-acdr-1",
)
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId.NotFound",
    "InvalidAccessKeyId.Inactive",
    "SignatureDoesNotMatch",
    "InvalidSecurityToken.Expired",
    "InvalidSecurityToken.MismatchWithAccessKey",
    "InvalidCredentials",
    "Forbidden.RAM",
    "AccessDenied",
}
PAGE = 100
T = TypeVar("T")


class CloudFlowError(FlowError):
    """CloudFlow refused a request for a reason the user must fix; the message says how."""

    code = "CloudFlowError"


@dataclass(frozen=True)
class CloudFlowConfig:
    """Where and as whom the client talks to CloudFlow.

    Attributes:
        region: ``VI_CLOUDFLOW_REGION``; must be a CloudFlow region unless ``endpoint`` is given.
        flow: ``VI_FLOW_NAME``.
        endpoint: ``VI_CLOUDFLOW_ENDPOINT``: ``host[:port]`` (HTTPS) or a full ``http(s)://`` URL.
        access_key_id, access_key_secret: an explicit key pair; empty → the default credential chain.
        security_token: the STS token that comes with a temporary key pair (Function Compute gives
            a function its role's keys this way: ``ALIBABA_CLOUD_SECURITY_TOKEN``).
        retries, backoff_s: for throttling, 5xx and dropped connections.
    """

    region: str = ""
    flow: str = "video-insight"
    endpoint: str = ""
    access_key_id: str = ""
    access_key_secret: str = ""
    security_token: str = ""
    retries: int = 4
    backoff_s: float = 0.5
    read_timeout_s: float = 20.0


def _status(text: str | None) -> ExecutionStatus:
    try:
        return ExecutionStatus(text or "Running")
    except ValueError:
        return ExecutionStatus.RUNNING


def _loads(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _is_transient(exc: BaseException) -> bool:
    code = str(getattr(exc, "code", "") or "")
    status = getattr(exc, "status_code", None)
    if type(exc).__name__ == "UnretryableException":  # no answer at all: the connection failed
        inner = getattr(exc, "inner_exception", None)
        return type(inner).__module__.startswith(("requests", "urllib3")) or isinstance(inner, OSError)
    if type(exc).__name__ == "ThrottlingException" or code.startswith("Throttling") or status == 429:
        return True
    return isinstance(status, int) and status >= 500


class CloudFlowEngine:
    """The executions of one CloudFlow flow, through the fnf SDK (see the module docstring)."""

    def __init__(self, config: CloudFlowConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._sleep = sleep
        self._client, self._models, self._runtime = self._connect(config)

    @property
    def flow(self) -> str:
        """The flow's name (``VI_FLOW_NAME``)."""
        return self.config.flow

    @property
    def where(self) -> str:
        """The endpoint or region, for messages."""
        return self.config.endpoint or f"region {self.config.region}"

    # -- connection --------------------------------------------------------------------------------
    @staticmethod
    def _connect(config: CloudFlowConfig) -> tuple[Any, Any, Any]:
        from alibabacloud_fnf20190315 import models
        from alibabacloud_fnf20190315.client import Client
        from alibabacloud_tea_openapi.models import Config
        from darabonba.runtime import RuntimeOptions

        if not config.endpoint and config.region not in CLOUDFLOW_REGIONS:
            what = f"region {config.region!r}" if config.region else "no region"
            raise CloudFlowError(
                f"CloudFlow is not offered in {what}: set VI_CLOUDFLOW_REGION to one of "
                f"{', '.join(CLOUDFLOW_REGIONS)} (or VI_CLOUDFLOW_ENDPOINT to another endpoint)"
            )
        endpoint, protocol = config.endpoint, "https"
        if "://" in endpoint:
            protocol, endpoint = endpoint.split("://", 1)
        kw: dict[str, Any] = {
            "region_id": config.region or "cn-hangzhou",
            "endpoint": endpoint.rstrip("/") or None,
            "protocol": protocol,
            "read_timeout": int(config.read_timeout_s * 1000),
            "connect_timeout": 5000,
        }
        if config.access_key_id:
            kw.update(access_key_id=config.access_key_id, access_key_secret=config.access_key_secret)
            if config.security_token:
                kw["security_token"] = config.security_token
        else:
            from alibabacloud_credentials.client import Client as Credentials

            # The chain logs each failed provider with a traceback on its own handler; the one line
            # our error gives says the same.
            logging.getLogger("credentials").setLevel(logging.CRITICAL)

            try:
                kw["credential"] = Credentials()
            except Exception as exc:  # the chain found nothing usable
                raise CloudFlowError(_credentials_hint(str(exc))) from None
        return Client(Config(**kw)), models, RuntimeOptions

    def _call(self, method: str, request: Any, *, read_timeout_s: float | None = None) -> Any:
        """One API call with retries; returns the response body model; maps errors to ours."""
        call = getattr(self._client, f"{method}_with_options")
        runtime = self._runtime()
        if read_timeout_s is not None:
            runtime.read_timeout = int(read_timeout_s * 1000)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_is_transient),
            stop=tenacity.stop_after_attempt(self.config.retries + 1),
            wait=tenacity.wait_exponential(multiplier=self.config.backoff_s, max=30),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(call, request, runtime).body
        except Exception as exc:
            raise self._translate(exc, method, request) from None

    def _translate(self, exc: Exception, method: str, request: Any) -> Exception:
        code = str(getattr(exc, "code", "") or "")
        message = str(getattr(exc, "message", "") or exc)
        name = getattr(request, "execution_name", None) or ""
        if type(exc).__name__ == "UnretryableException":
            inner = getattr(exc, "inner_exception", exc)
            if type(inner).__name__ == "CredentialException":
                return CloudFlowError(_credentials_hint(str(inner)))
            return CloudFlowError(
                f"cannot reach CloudFlow at {self.where} ({type(inner).__name__}): "
                "check VI_CLOUDFLOW_REGION / VI_CLOUDFLOW_ENDPOINT and the network"
            )
        if code in _CREDENTIAL_CODES:
            return CloudFlowError(_credentials_hint(f"{code}: {message}"))
        if code == "FlowNotExists":
            return CloudFlowError(
                f"flow {self.flow!r} does not exist at {self.where}: deploy it with `video-insight deploy` "
                "(or set VI_FLOW_NAME / VI_CLOUDFLOW_REGION)"
            )
        if code == "ExecutionNotExists":
            return ExecutionNotFound(f"no execution named {name!r} in flow {self.flow!r}")
        if code == "ExecutionAlreadyExists":
            return ExecutionAlreadyExists(f"execution {name!r} already exists and has ended")
        if code in ("ExecutionAlreadyStopped", "ExecutionNotRunning"):
            return ExecutionNotRunning(f"execution {name!r} has already ended")
        status = getattr(exc, "status_code", None)
        return CloudFlowError(
            f"CloudFlow {method} failed ({code or type(exc).__name__}, HTTP {status}): {message}"
        )

    # -- the engine interface ----------------------------------------------------------------------
    def start(self, name: str, input: Mapping[str, Any] | None = None) -> Execution:
        """StartExecution; a running name comes back as it is, an ended one raises ExecutionAlreadyExists."""
        payload = json.dumps(dict(input or {}), ensure_ascii=False, separators=(",", ":"))
        req = self._models.StartExecutionRequest(flow_name=self.flow, execution_name=name, input=payload)
        return self._execution(self._call("start_execution", req))

    def describe(self, name: str) -> Execution:
        """DescribeExecution (the error of an ended execution comes from its history)."""
        return self._with_error(self._describe(name, 0))

    def wait(self, name: str, timeout: float | None = None) -> Execution:
        """DescribeExecution with ``WaitTimeSeconds`` until it ends or ``timeout`` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 60.0 if deadline is None else max(0.0, deadline - time.monotonic())
            execution = self._describe(name, int(min(60.0, left)))
            if execution.done or (deadline is not None and time.monotonic() >= deadline):
                return self._with_error(execution)

    def list(self) -> builtins.list[Execution]:
        """ListExecutions, every page, oldest first."""
        out: builtins.list[Execution] = []
        token: str | None = None
        while True:
            req = self._models.ListExecutionsRequest(flow_name=self.flow, limit=PAGE, next_token=token)
            body = self._call("list_executions", req)
            out += [self._execution(item) for item in body.executions or []]
            token = body.next_token
            if not token:
                return sorted(out, key=lambda e: e.started or 0)

    def history(self, name: str) -> builtins.list[HistoryEvent]:
        """GetExecutionHistory, every page, as the engine's events."""
        events: builtins.list[HistoryEvent] = []
        token: str | None = None
        while True:
            req = self._models.GetExecutionHistoryRequest(
                flow_name=self.flow, execution_name=name, limit=PAGE, next_token=token
            )
            body = self._call("get_execution_history", req)
            events += [event_from_cloud(e.to_map()) for e in body.events or []]
            token = body.next_token
            if not token:
                return events

    def stop(self, name: str, *, error: str = "Stopped", cause: str = "") -> Execution:
        """StopExecution; ExecutionNotRunning when it has already ended."""
        req = self._models.StopExecutionRequest(
            flow_name=self.flow, execution_name=name, error=error, cause=cause
        )
        execution = self._execution(self._call("stop_execution", req))
        return Execution(**{**execution.__dict__, "error": {"Code": error, "Detail": cause}})

    def resume(self, name: str) -> Execution:
        """CloudFlow runs its executions itself: there is nothing to resume."""
        raise ExecutionNotResumable(f"execution {name!r} runs on CloudFlow, which never needs a resume")

    # -- flows -------------------------------------------------------------------------------------
    def deploy(self, definition: str, *, role_arn: str = "", description: str = "") -> str:
        """Create the flow, or update it if it exists; returns ``"created"`` or ``"updated"``."""
        try:
            self._call("describe_flow", self._models.DescribeFlowRequest(name=self.flow))
        except CloudFlowError as exc:
            if "does not exist" not in str(exc):
                raise
            req = self._models.CreateFlowRequest(
                name=self.flow,
                definition=definition,
                description=description,
                type="FDL",
                role_arn=role_arn or None,
            )
            self._call("create_flow", req)
            return "created"
        req = self._models.UpdateFlowRequest(
            name=self.flow,
            definition=definition,
            description=description or None,
            type="FDL",
            role_arn=role_arn or None,
        )
        self._call("update_flow", req)
        return "updated"

    # -- helpers -----------------------------------------------------------------------------------
    def _describe(self, name: str, wait_s: int) -> Execution:
        req = self._models.DescribeExecutionRequest(
            flow_name=self.flow, execution_name=name, wait_time_seconds=wait_s or None
        )
        timeout = self.config.read_timeout_s + wait_s
        return self._execution(self._call("describe_execution", req, read_timeout_s=timeout))

    def _execution(self, body: Any) -> Execution:
        status = _status(body.status)
        return Execution(
            name=body.name,
            flow=body.flow_name or self.flow,
            status=status,
            input=_loads(body.input),
            output=_loads(body.output),
            started=parse_time(body.started_time),
            stopped=parse_time(body.stopped_time) if status.finished else None,
        )

    def _with_error(self, execution: Execution) -> Execution:
        if execution.status in (ExecutionStatus.RUNNING, ExecutionStatus.STARTING, ExecutionStatus.SUCCEEDED):
            return execution
        for event in reversed(self.history(execution.name)):
            if event.get("type") in ("ExecutionFailed", "ExecutionStopped", "ExecutionTimedOut"):
                error = event.get("error") or {
                    "Code": event.get("Error", ""),
                    "Detail": event.get("Cause", ""),
                }
                return Execution(**{**execution.__dict__, "error": error})
        return execution


def _credentials_hint(detail: str) -> str:
    first = detail.splitlines()[0] if detail else ""
    if "any of the providers in the chain" in first:
        what = "no Alibaba Cloud credentials were found"
    else:
        what = f"CloudFlow refused the credentials ({first[:160]})"
    return (
        f"{what}: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET, "
        "an Alibaba Cloud CLI profile, or a RAM role"
    )
