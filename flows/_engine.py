"""The embedded CloudFlow engine: runs a flow definition in-process with durable history.

    engine = Engine(spec, registry, store=ExecutionStore(root), services={"settings": settings})
    execution = engine.start("batch-42", {"task_id": "t1"})      # runs to completion
    execution.status, execution.output, execution.error

Execution names behave as in CloudFlow: starting a name that is still running returns that
execution; a name that finished raises :class:`ExecutionAlreadyExists`. ``resume(name)`` re-runs an
execution whose process died: Tasks that already succeeded (a ``TaskSucceeded`` at the same path)
are not called again — their recorded results are reused — and everything else runs.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from ._errors import (
    ExecutionAlreadyExists,
    ExecutionNotResumable,
    SpecError,
    StateSizeExceeded,
)
from ._history import FAILED, RUNNING, SUCCEEDED, ExecutionInfo, ExecutionStore, HistoryWriter
from ._machine import Machine, compile_machine
from ._rules import NAME_RE
from ._runner import Run, error_of

__all__ = ["MAX_STATE_BYTES", "Engine", "Execution"]

MAX_STATE_BYTES = 64 * 1024
log = structlog.get_logger(logger_name=__name__)


class Execution:
    """A handle on one execution; live while it runs in this engine, a snapshot otherwise."""

    def __init__(self, info: ExecutionInfo, *, live: bool = False) -> None:
        self.info = info
        self.run_lock: int | None = None  # held while this process runs it (ExecutionStore.lock)
        self._finished = threading.Event()
        if not live:
            self._finished.set()

    name = property(lambda self: self.info.name)
    status = property(lambda self: self.info.status)
    input = property(lambda self: self.info.input)
    output = property(lambda self: self.info.output)
    error = property(lambda self: self.info.error)

    @property
    def done(self) -> bool:
        """Whether the execution has finished (Succeeded or Failed)."""
        return self.info.status != RUNNING

    def wait(self, timeout: float | None = None) -> Execution:
        """Block until this engine finishes running it (returns at once for a snapshot)."""
        self._finished.wait(timeout)
        return self

    def __repr__(self) -> str:
        return f"Execution(name={self.name!r}, status={self.status!r})"


class Engine:
    """Runs one flow definition; an unknown ``resourceArn`` or bad expression fails construction."""

    def __init__(
        self,
        spec: Mapping[str, Any],
        registry: Mapping[str, Callable[..., Any]],
        *,
        store: ExecutionStore,
        services: Mapping[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_state_bytes: int = MAX_STATE_BYTES,
    ) -> None:
        self.flow = str(spec.get("Name") or "flow")
        self.machine: Machine = compile_machine(spec, registry)
        self.store = store
        self.services: Mapping[str, Any] = services or {}
        self.sleep = sleep
        self.max_state_bytes = max_state_bytes
        self._live: dict[str, Execution] = {}
        self._lock = threading.Lock()

    # -- public ------------------------------------------------------------------------------------
    def start(self, name: str, input: Any = None, *, wait: bool = True) -> Execution:
        """Start execution ``name`` with ``input`` (default ``{}``); by default runs it to completion.

        Returns the running execution if ``name`` is already running; raises ExecutionAlreadyExists
        if it finished. With ``wait=False`` the execution runs on a background thread.
        """
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise SpecError(f"invalid execution name {name!r}: must match [A-Za-z_][A-Za-z0-9_-]{{0,127}}")
        payload = {} if input is None else input
        self._check_input(payload)
        with self._lock:
            existing = self._existing(name)
            if existing is not None:
                return existing
            info = ExecutionInfo(name=name, flow=self.flow, input=payload)
            writer = self.store.create(info)
            if writer is None:  # another process claimed the name just now
                existing = self._existing(name)
                assert existing is not None
                return existing
            run_lock = self.store.lock(name)
            execution = self._live[name] = Execution(info, live=True)
            execution.run_lock = run_lock
        writer.append("ExecutionStarted", input=payload, flow=self.flow, durable=True)
        return self._launch(execution, writer, {}, wait)

    def resume(self, name: str, *, wait: bool = True) -> Execution:
        """Re-run execution ``name`` after its process died, reusing every finished Task's result."""
        with self._lock:
            if name in self._live:
                return self._live[name]
            info = self.store.get(name)
            if info.status != RUNNING:
                raise ExecutionNotResumable(f"execution {name!r} already finished ({info.status})")
            if info.process_alive:
                raise ExecutionNotResumable(f"execution {name!r} is still running in process {info.pid}")
            if info.flow != self.flow:
                raise ExecutionNotResumable(
                    f"execution {name!r} belongs to flow {info.flow!r}, not {self.flow!r}"
                )
            run_lock = self.store.lock(name)
            if run_lock is None:
                raise ExecutionNotResumable(f"execution {name!r} is being resumed by another process")
            done = self.store.completed_tasks(name)
            info.pid, info.host = os.getpid(), socket.gethostname()
            self.store.save(info)
            writer = self.store.reopen(name)
            execution = self._live[name] = Execution(info, live=True)
            execution.run_lock = run_lock
        writer.append("ExecutionResumed", reused_tasks=len(done), pid=info.pid, durable=True)
        log.info("execution.resumed", execution=name, reused_tasks=len(done))
        return self._launch(execution, writer, done, wait)

    def describe(self, name: str) -> Execution:
        """The execution called ``name`` (live if it runs here); raises ExecutionNotFound."""
        with self._lock:
            if name in self._live:
                return self._live[name]
        return Execution(self.store.get(name))

    # -- internals ---------------------------------------------------------------------------------
    def _existing(self, name: str) -> Execution | None:
        if name in self._live:
            return self._live[name]
        info = self.store.find(name)
        if info is None:
            return None
        if info.status == RUNNING:
            return Execution(info)
        raise ExecutionAlreadyExists(f"execution {name!r} already exists and finished ({info.status})")

    def _check_input(self, payload: Any) -> None:
        size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        if size > self.max_state_bytes:
            raise StateSizeExceeded(
                f"execution input is {size} bytes, over the {self.max_state_bytes}-byte limit"
            )

    def _launch(
        self, execution: Execution, writer: HistoryWriter, done: dict[str, Any], wait: bool
    ) -> Execution:
        if wait:
            self._run(execution, writer, done)
        else:
            threading.Thread(
                target=self._run,
                args=(execution, writer, done),
                name=f"execution:{execution.name}",
                daemon=True,
            ).start()
        return execution

    def _run(self, execution: Execution, writer: HistoryWriter, done: dict[str, Any]) -> None:
        info = execution.info
        run = Run(
            name=info.name,
            input=info.input,
            history=writer,
            services=self.services,
            sleep=self.sleep,
            max_state_bytes=self.max_state_bytes,
            done=done,
        )
        log.info("execution.started", execution=info.name, flow=self.flow)
        try:
            output = run.machine(self.machine, info.input)
        except Exception as exc:
            info.error = error_of(exc)
            info.status = FAILED
            writer.append("ExecutionFailed", error=info.error, durable=True)
            log.info("execution.failed", execution=info.name, code=info.error["Code"])
        else:
            info.output, info.status = output, SUCCEEDED
            writer.append("ExecutionSucceeded", output=output, durable=True)
            log.info("execution.succeeded", execution=info.name)
        finally:
            info.stopped = time.time()
            writer.close()
            self.store.save(info)
            with self._lock:
                self._live.pop(info.name, None)
            if execution.run_lock is not None:
                os.close(execution.run_lock)
            execution._finished.set()
