"""The HTTP face of the local CloudFlow endpoint: CloudFlow's RPC API (2019-03-15) as a Starlette app.

One route, ``/``, GET or POST, parameters in the query string and (for writes) a form body, as the
``alibabacloud-fnf20190315`` SDK sends them. Every request is signed (see ``flows._fnf_wire``) with a
key pair this endpoint knows; the checks and their error codes follow Alibaba Cloud's API gateway:

=============================  ======  ==============================================
unknown ``AccessKeyId``        404     ``InvalidAccessKeyId.NotFound``
wrong ``Signature``            400     ``SignatureDoesNotMatch``
``Timestamp`` off by > 15 min  400     ``InvalidTimeStamp.Expired``
a ``SignatureNonce`` reused    400     ``SignatureNonceUsed``
wrong ``Version``              400     ``InvalidVersion``
unknown ``Action``             404     ``InvalidAction.NotFound``
=============================  ======  ==============================================

Service errors (``FlowNotExists``, ``ExecutionAlreadyExists``…) come from
:class:`flows._local_service.LocalCloudFlow`. Every error body is ``{RequestId, HostId, Code,
Message}``; every answer carries a ``RequestId``.
"""

from __future__ import annotations

import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ._fnf_wire import API_VERSION, event_to_cloud, format_time, parse_time, rpc_signature
from ._interface import Execution
from ._local_service import ApiError, FlowRecord, LocalCloudFlow

__all__ = ["cloudflow_app"]

HOST_ID = "fnf.local"
TIMESTAMP_SKEW_S = 15 * 60
DEFAULT_PAGE, MAX_PAGE = 100, 1000


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _execution(ex: Execution, definition: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {
        "Name": ex.name,
        "FlowName": ex.flow,
        "FlowDefinition": definition,
        "Input": _json(ex.input),
        "Output": _json(ex.output),
        "Status": str(ex.status),
        "StartedTime": format_time(ex.started),
        "StoppedTime": format_time(ex.stopped) if ex.done else None,
    }
    return {k: v for k, v in out.items() if v is not None}


def _flow(record: FlowRecord) -> dict[str, Any]:
    out = dict(record)
    out["CreatedTime"] = format_time(record["CreatedTime"])
    out["LastModifiedTime"] = format_time(record["LastModifiedTime"])
    return out


def _page(params: Mapping[str, str], total: int) -> tuple[int, int]:
    """``(start, stop)`` of the page that ``NextToken`` and ``Limit`` ask for."""
    try:
        start = int(params.get("NextToken") or 0)
        limit = int(params.get("Limit") or DEFAULT_PAGE)
    except ValueError:
        raise ApiError(400, "InvalidArgument", "NextToken and Limit must be integers") from None
    if start < 0 or not 1 <= limit <= MAX_PAGE:
        raise ApiError(400, "InvalidArgument", f"Limit must be 1..{MAX_PAGE} and NextToken one we gave")
    return start, min(total, start + limit)


def _next(stop: int, total: int) -> dict[str, str]:
    return {"NextToken": str(stop)} if stop < total else {}


class _Api:
    """The actions; each takes the request's parameters and returns the response body."""

    def __init__(self, service: LocalCloudFlow) -> None:
        self.s = service

    def CreateFlow(self, p: Mapping[str, str]) -> dict[str, Any]:
        return _flow(self.s.save_flow(p, create=True))

    def UpdateFlow(self, p: Mapping[str, str]) -> dict[str, Any]:
        return _flow(self.s.save_flow(p, create=False))

    def DescribeFlow(self, p: Mapping[str, str]) -> dict[str, Any]:
        return _flow(self.s.get_flow(p.get("Name", "")))

    def DeleteFlow(self, p: Mapping[str, str]) -> dict[str, Any]:
        self.s.delete_flow(p.get("Name", ""))
        return {}

    def ListFlows(self, p: Mapping[str, str]) -> dict[str, Any]:
        flows = self.s.list_flows()
        start, stop = _page(p, len(flows))
        return {"Flows": [_flow(f) for f in flows[start:stop]], **_next(stop, len(flows))}

    def StartExecution(self, p: Mapping[str, str]) -> dict[str, Any]:
        flow = p.get("FlowName", "")
        ex = self.s.start(flow, p.get("ExecutionName"), p.get("Input"))
        return _execution(ex, self.s.get_flow(flow)["Definition"])

    def DescribeExecution(self, p: Mapping[str, str]) -> dict[str, Any]:
        flow = p.get("FlowName", "")
        try:
            wait = float(p.get("WaitTimeSeconds") or 0)
        except ValueError:
            raise ApiError(400, "InvalidArgument", "WaitTimeSeconds must be a number of seconds") from None
        if not 0 <= wait <= 60:
            raise ApiError(400, "InvalidArgument", "WaitTimeSeconds must be between 0 and 60")
        ex = self.s.describe(flow, p.get("ExecutionName", ""), wait)
        return _execution(ex, self.s.get_flow(flow)["Definition"])

    def StopExecution(self, p: Mapping[str, str]) -> dict[str, Any]:
        flow = p.get("FlowName", "")
        ex = self.s.stop(flow, p.get("ExecutionName", ""), p.get("Error", ""), p.get("Cause", ""))
        return _execution(ex, self.s.get_flow(flow)["Definition"])

    def ListExecutions(self, p: Mapping[str, str]) -> dict[str, Any]:
        executions = self.s.list(p.get("FlowName", ""))
        prefix, status = p.get("ExecutionNamePrefix", ""), p.get("Status", "")
        begin, end = parse_time(p.get("StartedTimeBegin")), parse_time(p.get("StartedTimeEnd"))
        chosen = [
            ex
            for ex in executions
            if ex.name.startswith(prefix)
            and (not status or str(ex.status) == status)
            and (begin is None or (ex.started or 0) >= begin)
            and (end is None or (ex.started or 0) <= end)
        ]
        start, stop = _page(p, len(chosen))
        return {"Executions": [_execution(ex) for ex in chosen[start:stop]], **_next(stop, len(chosen))}

    def GetExecutionHistory(self, p: Mapping[str, str]) -> dict[str, Any]:
        events = self.s.history(p.get("FlowName", ""), p.get("ExecutionName", ""))
        start, stop = _page(p, len(events))
        return {"Events": [event_to_cloud(e) for e in events[start:stop]], **_next(stop, len(events))}


class _Signatures:
    """Checks a request's signature, key, time and nonce; remembers nonces for 15 minutes."""

    def __init__(self, keys: Mapping[str, str], clock: Callable[[], float] = time.time) -> None:
        self.keys = dict(keys)
        self.clock = clock
        self._nonces: dict[str, float] = {}

    def check(self, method: str, params: Mapping[str, str]) -> None:
        key_id = params.get("AccessKeyId", "")
        if not key_id or "Signature" not in params:
            raise ApiError(400, "MissingParameter", "the request is not signed (AccessKeyId, Signature)")
        secret = self.keys.get(key_id)
        if secret is None:
            raise ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if params.get("SignatureMethod") != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
            raise ApiError(400, "InvalidSignatureMethod", "SignatureMethod must be HMAC-SHA1, version 1.0")
        expected = rpc_signature(params, method, secret)
        if not hmac.compare_digest(expected.encode(), params["Signature"].encode()):
            raise ApiError(
                400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."
            )
        now = self.clock()
        try:
            sent = parse_time(params.get("Timestamp"))
        except ValueError:
            sent = None
        if sent is None or abs(now - sent) > TIMESTAMP_SKEW_S:
            raise ApiError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
        self._nonces = {n: t for n, t in self._nonces.items() if now - t <= TIMESTAMP_SKEW_S}
        nonce = params.get("SignatureNonce", "")
        if not nonce or nonce in self._nonces:
            raise ApiError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self._nonces[nonce] = now


def _error(exc: ApiError, request_id: str) -> JSONResponse:
    body = {"RequestId": request_id, "HostId": HOST_ID, "Code": exc.code, "Message": exc.message}
    return JSONResponse(body, exc.status)


def cloudflow_app(service: LocalCloudFlow, keys: Mapping[str, str]) -> Starlette:
    """The endpoint's ASGI app: ``keys`` maps each accepted AccessKeyId to its secret."""
    api = _Api(service)
    signatures = _Signatures(keys)

    async def rpc(request: Request) -> JSONResponse:
        request_id = str(uuid.uuid4()).upper()
        params = dict(request.query_params)
        if request.method == "POST":
            body = (await request.body()).decode("utf-8", errors="replace")
            params.update(parse_qsl(body, keep_blank_values=True))
        try:
            signatures.check(request.method, params)
            if params.get("Version") != API_VERSION:
                raise ApiError(
                    400, "InvalidVersion", f"Specified parameter Version is not valid ({API_VERSION})."
                )
            action = params.get("Action", "")
            handler = getattr(api, action, None) if action[:1].isupper() else None
            if handler is None:
                raise ApiError(404, "InvalidAction.NotFound", f"Specified api {action!r} is not found.")
            result = await run_in_threadpool(handler, params)
        except ApiError as exc:
            return _error(exc, request_id)
        return JSONResponse({"RequestId": request_id, **result})

    return Starlette(routes=[Route("/", rpc, methods=["GET", "POST"])])
