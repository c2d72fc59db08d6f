"""The embedded CloudFlow engine: runs a flow definition in-process with durable history.

    engine = Engine(spec, registry, store=ExecutionStore(root), services={"settings": settings})
    engine.start("batch-42", {"task_id": "t1"})                  # runs on a background thread
    execution = engine.wait("batch-42")                           # an Execution snapshot
    execution.status, execution.output, execution.error

It implements :class:`flows.ExecutionEngine`. Execution names behave as in CloudFlow: starting a
name that is still running returns that execution; a name that finished raises
:class:`ExecutionAlreadyExists`. ``resume(name)`` re-runs an execution whose process died: Tasks
that already succeeded (a ``TaskSucceeded`` at the same path) are not called again — their recorded
results are reused — and everything else runs. ``stop(name)`` works across processes: the runner
checks for a stop request before every state (a Task already running is let finish).
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import structlog

from ._errors import (
    ExecutionAlreadyExists,
    ExecutionNotFound,
    ExecutionNotResumable,
    ExecutionNotRunning,
    SpecError,
    StateFailure,
    StateSizeExceeded,
    error_of,
    storage_full,
)
from ._history import CLOUDFLOW_MAX_EVENTS, ExecutionInfo, ExecutionStore, HistoryWriter
from ._interface import Execution, ExecutionStatus, HistoryEvent
from ._machine import Machine, compile_machine
from ._rules import NAME_RE
from ._runner import Cancel, Cancelled, Run
from ._states import DEFAULT_CONCURRENCY

__all__ = ["MAX_STATE_BYTES", "Engine"]

MAX_STATE_BYTES = 64 * 1024
POLL_S = 0.2  # how often wait() re-reads an execution that another process runs
log = structlog.get_logger(logger_name=__name__)


class _WithChild(Mapping[str, Callable[..., Any]]):
    """``registry`` plus one more entry, looked up lazily (a registry may load handlers on lookup)."""

    def __init__(self, registry: Mapping[str, Callable[..., Any]], arn: str, handler: Callable[..., Any]):
        self.registry, self.arn, self.handler = registry, arn, handler

    def __getitem__(self, arn: str) -> Callable[..., Any]:
        return self.handler if arn == self.arn else self.registry[arn]

    def __contains__(self, arn: object) -> bool:
        return arn == self.arn or arn in self.registry

    def __iter__(self) -> Iterator[str]:
        yield self.arn
        yield from self.registry

    def __len__(self) -> int:
        return len(self.registry) + 1


def _cap_maps(machine: Machine, cap: int) -> None:
    """Lower every Map's fixed ``MaxConcurrency`` (0 or none: the default) to at most ``cap``."""
    for state in machine.states.values():
        if state.type == "Map" and (state.concurrency is None or isinstance(state.concurrency, int)):
            state.concurrency = min(cap, state.concurrency or DEFAULT_CONCURRENCY)
        for branch in state.branches:
            _cap_maps(branch, cap)


class _Live:
    """An execution this engine runs now: its record, its end, its run lock and its stop switch."""

    def __init__(self, info: ExecutionInfo, run_lock: int, stop: Cancel) -> None:
        self.info = info
        self.run_lock = run_lock  # held while this process runs it (ExecutionStore.lock)
        self.stop = stop
        self.finished = threading.Event()


class Engine:
    """Runs one flow definition; an unknown ``resourceArn`` or bad expression fails construction.

    ``max_events`` is CloudFlow's per-execution event limit (None: no limit): an execution whose
    history would pass it fails with ``FnF.EventLimitExceeded``, so a flow that would break in the
    cloud breaks in tests too. ``max_concurrency`` caps every Map's ``MaxConcurrency`` on this
    machine (the flow's number is for the cloud, where each iteration gets its own function instances).
    A Task ``FNF:StartExecution`` of this same flow runs a child execution here and waits for it.
    """

    def __init__(
        self,
        spec: Mapping[str, Any],
        registry: Mapping[str, Callable[..., Any]],
        *,
        store: ExecutionStore,
        services: Mapping[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_state_bytes: int = MAX_STATE_BYTES,
        max_events: int | None = CLOUDFLOW_MAX_EVENTS,
        max_concurrency: int | None = None,
    ) -> None:
        self._flow = str(spec.get("Name") or "flow")
        registry = _WithChild(registry, f"acs:fnf:::flow/{self._flow}", self._run_child)
        self.machine: Machine = compile_machine(spec, registry)
        if max_concurrency is not None:
            _cap_maps(self.machine, max(1, max_concurrency))
        self.max_events = max_events
        self._children: dict[str, set[str]] = {}  # parent execution → the children it started here
        self._store = store
        self.services: Mapping[str, Any] = services or {}
        self.sleep = sleep
        self.max_state_bytes = max_state_bytes
        self._live: dict[str, _Live] = {}
        self._lock = threading.Lock()

    @property
    def flow(self) -> str:
        """The flow's ``Name``."""
        return self._flow

    # -- the engine interface ----------------------------------------------------------------------
    def start(self, name: str, input: Mapping[str, Any] | None = None, *, wait: bool = False) -> Execution:
        """Start execution ``name`` with ``input`` (default ``{}``) on a background thread.

        Returns the running execution if ``name`` is already running; raises ExecutionAlreadyExists
        if it ended. ``wait=True`` runs it on this thread and returns it ended.
        """
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise SpecError(f"invalid execution name {name!r}: must match [A-Za-z_][A-Za-z0-9_-]{{0,127}}")
        payload = {} if input is None else input
        self._check_input(payload)
        with self._lock:
            existing = self._existing(name)
            if existing is not None:
                return existing
            info = ExecutionInfo(name=name, flow=self._flow, input=payload)
            writer = self._store.create(info, max_events=self.max_events)
            if writer is None:  # another process claimed the name just now
                existing = self._existing(name)
                assert existing is not None
                return existing
            live = self._claim(info)
            assert live is not None  # a name created just now has no other runner
        try:
            writer.append("ExecutionStarted", input=payload, flow=self._flow, durable=True)
        except OSError as exc:
            return self._abort(live, writer, exc)
        return self._launch(live, writer, {}, wait)

    def describe(self, name: str) -> Execution:
        """The execution called ``name``; raises ExecutionNotFound."""
        with self._lock:
            if name in self._live:
                return self._live[name].info.snapshot()
        return self._store.get(name).snapshot()

    def wait(self, name: str, timeout: float | None = None) -> Execution:
        """Block until ``name`` ends (or is ``resumable``) or ``timeout`` seconds pass."""
        with self._lock:
            live = self._live.get(name)
        if live is not None:
            live.finished.wait(timeout)
            return live.info.snapshot()  # as it ended here, even if its record could not be saved
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:  # run by another process: its meta.json is the only news
            execution = self.describe(name)
            if execution.done or execution.resumable:
                return execution
            if deadline is not None and time.monotonic() >= deadline:
                return execution
            left = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.monotonic()))
            time.sleep(left)

    def list(self) -> builtins.list[Execution]:
        """Every execution of this flow, oldest first."""
        return [info.snapshot() for info in self._store.list()]

    def history(self, name: str) -> builtins.list[HistoryEvent]:
        """Every recorded event of ``name``, in order; raises ExecutionNotFound."""
        return builtins.list(self._store.events(name))

    def stop(self, name: str, *, error: str = "Stopped", cause: str = "") -> Execution:
        """Stop ``name``: it ends as Stopped now; Tasks already running are let finish, none starts.

        Works for an execution that this process, another process or no process (died) runs.
        """
        reason = {"Code": error, "Detail": cause}
        with self._lock:
            live = self._live.get(name)
            info = live.info if live is not None else self._store.get(name)
            if info.status.finished:
                raise ExecutionNotRunning(f"execution {name!r} already ended ({info.status})")
            self._store.request_stop(name, reason)
            if live is not None:
                live.stop.flag.set()
            info.status, info.error, info.stopped = ExecutionStatus.STOPPED, reason, time.time()
            self._store.save(info)
            children = self._children.pop(name, set())
        log.info("execution.stopped", execution=name, code=error)
        for child in sorted(children):  # its child executions go with it
            with contextlib.suppress(ExecutionNotRunning, ExecutionNotFound):  # ended, or not started
                self.stop(child, error=error, cause=f"its parent execution {name!r} was stopped")
        return info.snapshot()

    def resume(self, name: str, *, wait: bool = False) -> Execution:
        """Continue execution ``name`` after its process died, or after it failed because the disk was
        full (once space is freed), reusing every finished Task's result."""
        with self._lock:
            if name in self._live:
                return self._live[name].info.snapshot()
            info = self._store.get(name)
            if info.status is not ExecutionStatus.RUNNING and not info.stopped_by_full_disk:
                raise ExecutionNotResumable(f"execution {name!r} already ended ({info.status})")
            if info.status is ExecutionStatus.RUNNING and info.process_alive:
                raise ExecutionNotResumable(f"execution {name!r} is still running in process {info.pid}")
            if info.flow != self._flow:
                raise ExecutionNotResumable(
                    f"execution {name!r} belongs to flow {info.flow!r}, not {self._flow!r}"
                )
            live = self._claim(info)
            if live is None:
                raise ExecutionNotResumable(f"execution {name!r} is being resumed by another process")
            done = self._store.completed_tasks(name)
            info.pid, info.host = os.getpid(), socket.gethostname()
            info.status, info.error, info.stopped = ExecutionStatus.RUNNING, None, None
            self._store.save(info)
            writer = self._store.reopen(name, max_events=self.max_events)
        try:
            writer.append("ExecutionResumed", reused_tasks=len(done), pid=info.pid, durable=True)
        except OSError as exc:
            return self._abort(live, writer, exc)
        log.info("execution.resumed", execution=name, reused_tasks=len(done))
        return self._launch(live, writer, done, wait)

    # -- internals ---------------------------------------------------------------------------------
    def _run_child(self, event: Mapping[str, Any], ctx: Any) -> Any:
        """A Task's ``FNF:StartExecution`` of this flow: start (or find) the child, wait, return its output.

        The child's name comes from the parent (``executionName``), so a retried or resumed parent
        finds the child it started before instead of starting a second one; a child whose process
        died is resumed, and stopping the parent stops the child.
        """
        name = event.get("executionName")
        if not isinstance(name, str):
            raise SpecError("FNF:StartExecution: Parameters.executionName must name the child execution")
        parent = str(getattr(ctx, "execution", "") or "")
        with self._lock:
            self._children.setdefault(parent, set()).add(name)
        with contextlib.suppress(ExecutionAlreadyExists):  # ended already: its outcome is below
            self.start(name, event.get("input") or {})
        child = self._follow(name, parent)
        with self._lock:
            self._children.get(parent, set()).discard(name)
        if child.status is not ExecutionStatus.SUCCEEDED:
            error = dict(child.error or {"Code": "FnF.Error", "Detail": ""})
            raise StateFailure(error["Code"], f"child execution {name!r} {child.status}: {error['Detail']}")
        return child.output

    def _follow(self, name: str, parent: str) -> Execution:
        """Wait for child ``name`` to end: resume it if its process died, stop it if ``parent`` stops."""
        while True:
            if parent and self._store.stop_requested(parent):  # asked here or by another process
                with contextlib.suppress(ExecutionNotRunning):
                    self.stop(name, error="Stopped", cause=f"its parent execution {parent!r} was stopped")
                return self.describe(name)
            child = self.wait(name, timeout=5 * POLL_S)
            if child.done:
                return child
            if child.resumable:
                with contextlib.suppress(ExecutionNotResumable):  # another process took it over
                    self.resume(name)

    def _claim(self, info: ExecutionInfo) -> _Live | None:
        """Take ``info``'s run lock and register it as live here; None if another process holds it."""
        run_lock = self._store.lock(info.name)
        if run_lock is None:
            return None
        probe = functools.partial(self._store.stop_requested, info.name)
        live = self._live[info.name] = _Live(info, run_lock, Cancel(probe=probe))
        return live

    def _existing(self, name: str) -> Execution | None:
        if name in self._live:
            return self._live[name].info.snapshot()
        info = self._store.find(name)
        if info is None:
            return None
        if info.status is ExecutionStatus.RUNNING:
            return info.snapshot()
        raise ExecutionAlreadyExists(f"execution {name!r} already exists and ended ({info.status})")

    def _check_input(self, payload: Any) -> None:
        size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        if size > self.max_state_bytes:
            raise StateSizeExceeded(
                f"execution input is {size} bytes, over the {self.max_state_bytes}-byte limit"
            )

    def _launch(self, live: _Live, writer: HistoryWriter, done: dict[str, Any], wait: bool) -> Execution:
        if wait:
            self._run(live, writer, done)
        else:
            threading.Thread(
                target=self._run,
                args=(live, writer, done),
                name=f"execution:{live.info.name}",
                daemon=True,
            ).start()
        return live.info.snapshot()

    def _run(self, live: _Live, writer: HistoryWriter, done: dict[str, Any]) -> None:
        info = live.info
        run = Run(
            name=info.name,
            input=info.input,
            history=writer,
            services=self.services,
            sleep=self.sleep,
            max_state_bytes=self.max_state_bytes,
            done=done,
        )
        log.info("execution.started", execution=info.name, flow=self._flow)
        try:
            try:
                output = run.machine(self.machine, info.input, cancel=live.stop)
            except Cancelled:
                self._end(live, writer, ExecutionStatus.STOPPED)
            except Exception as exc:
                self._end(live, writer, ExecutionStatus.FAILED, error=error_of(storage_full(exc) or exc))
            else:
                self._end(live, writer, ExecutionStatus.SUCCEEDED, output=output)
        finally:
            self._finish(live, writer)

    def _abort(self, live: _Live, writer: HistoryWriter, exc: OSError) -> Execution:
        """End an execution whose first event could not be written (a full or failing disk)."""
        try:
            self._end(live, writer, ExecutionStatus.FAILED, error=error_of(storage_full(exc) or exc))
        finally:
            self._finish(live, writer)
        return live.info.snapshot()

    def _finish(self, live: _Live, writer: HistoryWriter) -> None:
        """Close the history, save the record, release the run: a failing disk is logged, and the
        execution still ends here (``wait`` returns; a disk that is full is the execution's error)."""
        info = live.info
        try:
            try:
                writer.close()
            except OSError as exc:
                log.error("execution.history_not_closed", execution=info.name, error=str(exc))
            with self._lock:
                try:
                    self._store.save(info)
                except OSError as exc:  # the record stays Running: resumable once the process is gone
                    log.error("execution.record_not_saved", execution=info.name, error=str(exc))
                self._live.pop(info.name, None)
        finally:
            os.close(live.run_lock)
            live.finished.set()

    def _end(self, live: _Live, writer: HistoryWriter, status: ExecutionStatus, **fields: Any) -> None:
        """Record how the run ended; a stop asked meanwhile wins over any other outcome."""
        info = live.info
        with self._lock:
            if info.status is ExecutionStatus.STOPPED or live.stop.is_set():
                if info.status is not ExecutionStatus.STOPPED:  # asked by another process
                    asked = self._store.find(info.name)
                    info.error = (asked.error if asked else None) or {"Code": "Stopped", "Detail": ""}
                    info.stopped = (asked.stopped if asked else None) or time.time()
                info.status = ExecutionStatus.STOPPED
            else:
                info.status, info.stopped = status, time.time()
                info.output, info.error = fields.get("output"), fields.get("error")
        try:
            if info.status is ExecutionStatus.SUCCEEDED:
                writer.append("ExecutionSucceeded", output=info.output, durable=True)
            else:
                kind = "ExecutionStopped" if info.status is ExecutionStatus.STOPPED else "ExecutionFailed"
                writer.append(kind, error=info.error, durable=True)
        except OSError as exc:  # the outcome above stands; the record says it (_finish)
            log.error("execution.end_not_recorded", execution=info.name, error=str(exc))
        log.info(f"execution.{info.status.lower()}", execution=info.name, error=info.error)
