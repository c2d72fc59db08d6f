"""What the local CloudFlow-compatible endpoint does behind its HTTP API: flows and their executions.

Flows are kept as ``<root>/flows/<name>.json``; each flow's executions run on an embedded
:class:`flows.Engine` whose history lives in ``<root>/executions/<flow>/``. The Task handlers come
from one registry for every flow (the endpoint passes :class:`flows.HttpFunctions`, so each Task is
a real ``POST /invoke`` on a function server). Errors are :class:`ApiError` with the service's
HTTP status and code; the API layer turns them into CloudFlow's error body.
"""

from __future__ import annotations

import builtins
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

from ._engine import MAX_STATE_BYTES, Engine
from ._errors import ExecutionAlreadyExists, ExecutionNotFound, ExecutionNotRunning, FlowError
from ._history import ExecutionStore
from ._interface import Execution, HistoryEvent
from ._rules import NAME_RE
from ._validate import FlowValidationError, check_flow

__all__ = ["ApiError", "FlowRecord", "LocalCloudFlow"]

Handler = Callable[..., Any]
MAX_WAIT_S = 60  # DescribeExecution's WaitTimeSeconds
log = structlog.get_logger(logger_name=__name__)


class ApiError(Exception):
    """An API error as the service reports it: HTTP status, ``Code`` and ``Message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


FlowRecord = dict[str, Any]


def _require(params: Mapping[str, str], *names: str) -> None:
    missing = [n for n in names if not params.get(n)]
    if missing:
        raise ApiError(400, "MissingRequiredParams", f"missing required parameter(s): {', '.join(missing)}")


class LocalCloudFlow:
    """Flows and executions under ``root``, run by embedded engines over ``registry``."""

    def __init__(
        self,
        root: Path,
        registry: Mapping[str, Handler],
        *,
        services: Mapping[str, Any] | None = None,
        max_state_bytes: int = MAX_STATE_BYTES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.root = Path(root)
        self.sleep = sleep  # Wait states and Retry delays
        self.registry = registry
        self.services = services or {}
        self.max_state_bytes = max_state_bytes
        self._engines: dict[str, Engine] = {}
        self._lock = threading.RLock()
        (self.root / "flows").mkdir(parents=True, exist_ok=True)

    # -- flows -------------------------------------------------------------------------------------
    def _flow_path(self, name: str) -> Path:
        return self.root / "flows" / f"{name}.json"

    def get_flow(self, name: str) -> FlowRecord:
        """The flow called ``name``; ApiError ``FlowNotExists`` if there is none."""
        if not NAME_RE.fullmatch(name or ""):
            raise ApiError(400, "InvalidArgument", f"invalid flow name {name!r}")
        try:
            return dict(json.loads(self._flow_path(name).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ApiError(404, "FlowNotExists", f"flow {name} does not exist") from None

    def list_flows(self) -> builtins.list[FlowRecord]:
        """Every flow, oldest first."""
        records = [json.loads(p.read_text(encoding="utf-8")) for p in (self.root / "flows").glob("*.json")]
        return sorted(records, key=lambda r: (r["CreatedTime"], r["Name"]))

    def _engine_for(self, definition: str) -> Engine:
        try:
            spec = check_flow(definition)
        except FlowValidationError as exc:
            problems = "; ".join(str(p) for p in exc.problems[:5])
            raise ApiError(400, "InvalidArgument", f"invalid flow definition: {problems}") from None
        name = str(spec.get("Name"))
        try:
            return Engine(
                spec,
                self.registry,
                store=ExecutionStore(self.root / "executions" / name),
                services=self.services,
                sleep=self.sleep,
                max_state_bytes=self.max_state_bytes,
            )
        except FlowError as exc:  # e.g. a Task whose function no server here serves
            raise ApiError(400, "InvalidArgument", f"the flow cannot run here: {exc}") from None

    def save_flow(self, params: Mapping[str, str], *, create: bool) -> FlowRecord:
        """CreateFlow (``create``) or UpdateFlow from the request's parameters."""
        _require(params, "Name")
        name = params["Name"]
        with self._lock:
            existing = None
            try:
                existing = self.get_flow(name)
            except ApiError as exc:
                if exc.code != "FlowNotExists":
                    raise
            if create and existing is not None:
                raise ApiError(409, "FlowAlreadyExists", f"flow {name} already exists")
            if not create and existing is None:
                raise ApiError(404, "FlowNotExists", f"flow {name} does not exist")
            if create:
                _require(params, "Definition")
            record: FlowRecord = dict(existing or {})
            definition = params.get("Definition") or record.get("Definition", "")
            engine = self._engine_for(definition)
            if engine.flow != name:
                raise ApiError(
                    400, "InvalidArgument", f"the definition's Name is {engine.flow!r}, not {name!r}"
                )
            now = time.time()
            record.update(
                Name=name,
                Definition=definition,
                Description=params.get("Description", record.get("Description", "")),
                Type=params.get("Type", record.get("Type", "FDL")),
                RoleArn=params.get("RoleArn", record.get("RoleArn", "")),
                ExecutionMode=params.get("ExecutionMode", record.get("ExecutionMode", "Standard")),
                Id=record.get("Id") or uuid.uuid4().hex,
                CreatedTime=record.get("CreatedTime", now),
                LastModifiedTime=now,
            )
            tmp = self._flow_path(name).with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self._flow_path(name))
            self._engines[name] = engine
            return record

    def delete_flow(self, name: str) -> None:
        """DeleteFlow: forget the flow (its past executions' records stay on disk)."""
        with self._lock:
            self.get_flow(name)
            self._flow_path(name).unlink()
            self._engines.pop(name, None)

    def engine(self, flow: str) -> Engine:
        """The engine running ``flow``'s executions (built from its stored definition once).

        Building it continues every execution that a previous endpoint process left running: CloudFlow
        never drops an execution because a machine went away.
        """
        with self._lock:
            if flow not in self._engines:
                engine = self._engines[flow] = self._engine_for(self.get_flow(flow)["Definition"])
                for execution in engine.list():
                    if execution.resumable:
                        try:
                            engine.resume(execution.name)
                        except FlowError as exc:  # another process took it over meanwhile
                            log.info("cloudflow_local.not_resumed", execution=execution.name, reason=str(exc))
            return self._engines[flow]

    def recover(self) -> builtins.list[str]:
        """Build every stored flow's engine now (continuing their left-over executions); their names."""
        names = [record["Name"] for record in self.list_flows()]
        for name in names:
            self.engine(name)
        return names

    # -- executions --------------------------------------------------------------------------------
    def start(self, flow: str, name: str | None, input_text: str | None) -> Execution:
        """StartExecution: a running name is returned as it is; an ended one is ExecutionAlreadyExists."""
        engine = self.engine(flow)
        name = name or uuid.uuid4().hex
        if not NAME_RE.fullmatch(name):
            raise ApiError(400, "InvalidArgument", f"invalid execution name {name!r}")
        try:
            payload = json.loads(input_text) if input_text else {}
        except ValueError as exc:
            raise ApiError(400, "InvalidArgument", f"Input is not valid JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise ApiError(400, "InvalidArgument", "Input must be a JSON object")
        size = len((input_text or "").encode("utf-8"))
        if size > self.max_state_bytes:
            raise ApiError(
                400, "InvalidArgument", f"Input is {size} bytes, over the {self.max_state_bytes}-byte limit"
            )
        try:
            return engine.start(name, payload)
        except ExecutionAlreadyExists as exc:
            raise ApiError(409, "ExecutionAlreadyExists", exc.message) from None

    def describe(self, flow: str, name: str, wait_s: float = 0) -> Execution:
        """DescribeExecution, waiting up to ``wait_s`` (≤ 60) seconds for it to end."""
        engine = self.engine(flow)
        try:
            if wait_s > 0:
                return engine.wait(name, min(float(wait_s), MAX_WAIT_S))
            return engine.describe(name)
        except ExecutionNotFound:
            raise ApiError(
                404, "ExecutionNotExists", f"execution {name} of flow {flow} does not exist"
            ) from None

    def history(self, flow: str, name: str) -> builtins.list[HistoryEvent]:
        """Every event of execution ``name`` (GetExecutionHistory pages over it)."""
        try:
            return self.engine(flow).history(name)
        except ExecutionNotFound:
            raise ApiError(
                404, "ExecutionNotExists", f"execution {name} of flow {flow} does not exist"
            ) from None

    def list(self, flow: str) -> builtins.list[Execution]:
        """Every execution of ``flow``, oldest first."""
        return self.engine(flow).list()

    def stop(self, flow: str, name: str, error: str, cause: str) -> Execution:
        """StopExecution."""
        engine = self.engine(flow)
        try:
            return engine.stop(name, error=error or "Stopped", cause=cause)
        except ExecutionNotFound:
            raise ApiError(
                404, "ExecutionNotExists", f"execution {name} of flow {flow} does not exist"
            ) from None
        except ExecutionNotRunning as exc:
            raise ApiError(400, "ExecutionAlreadyStopped", exc.message) from None
