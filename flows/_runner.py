"""The interpreter: runs compiled states of one execution, writing history as it goes.

A state's ``path`` names its scope: ``Videos/3/Understand/Branch1/Shots`` is the Shots state of
Parallel branch 1 inside Map iteration 3. A state visited again in the same scope (a Choice loop)
gets ``#2``, ``#3``… so paths stay unique and resume can match a Task to its recorded result.
"""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import structlog

from ._errors import ExpressionError, FlowError, StateFailure, StateSizeExceeded, TaskTimeout
from ._expr import Scope
from ._history import HistoryWriter
from ._machine import Machine, State
from ._rules import MAX_CONCURRENCY

__all__ = ["DEFAULT_CONCURRENCY", "MAX_CONCURRENCY", "Cancel", "Cancelled", "Run", "TaskContext", "error_of"]

DEFAULT_CONCURRENCY = 10


@dataclass
class TaskContext:
    """The ``context`` a Task's handler receives (besides its event)."""

    request_id: str
    execution: str
    state: str
    path: str
    retry_count: int
    deadline: float | None  # time.monotonic() value; None without a Timeout
    services: Mapping[str, Any]


class Cancelled(Exception):
    """A sibling branch or iteration failed: stop before the next state."""


class Cancel:
    """Set when a sibling failed; ``probe`` (the root's) also reports a stop asked from outside."""

    def __init__(self, parent: Cancel | None = None, probe: Callable[[], bool] | None = None) -> None:
        self.parent = parent
        self.flag = threading.Event()
        self.probe = probe

    def is_set(self) -> bool:
        if self.flag.is_set() or (self.probe is not None and self.probe()):
            return True
        return self.parent is not None and self.parent.is_set()


def error_of(exc: BaseException) -> dict[str, str]:
    """CloudFlow's ``{Code, Detail}`` for an exception: its string ``code``, else ``FC.Unknown``."""
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        detail = getattr(exc, "detail", None)
        if not isinstance(detail, str):
            detail = str(getattr(exc, "message", None) or exc)
        return {"Code": code, "Detail": detail}
    return {"Code": "FC.Unknown", "Detail": f"{type(exc).__name__}: {exc}"}


def _encode(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


log = structlog.get_logger(logger_name=__name__)


def _wait_for_straggler(exc: BaseException, state: State) -> None:
    """Before retrying a timed-out Task, give its abandoned attempt one more timeout to finish.

    Function Compute kills a function at its timeout; a thread cannot be killed, so without this a
    retry would run the same step on the same files while the old attempt still writes them.
    """
    worker = getattr(exc, "straggler", None)
    if isinstance(worker, threading.Thread) and worker.is_alive():
        worker.join(state.timeout)
        if worker.is_alive():
            log.warning("task.straggler_still_running", state=state.name, thread=worker.name)


class Run:
    """One pass over an execution (a fresh start or a resume)."""

    def __init__(
        self,
        *,
        name: str,
        input: Any,
        history: HistoryWriter,
        services: Mapping[str, Any],
        sleep: Callable[[float], None],
        max_state_bytes: int,
        done: Mapping[str, Any] | None = None,
    ) -> None:
        self.name, self.input, self.history = name, input, history
        self.services, self.sleep, self.max_bytes = services, sleep, max_state_bytes
        self.done = dict(done or {})

    def scope(self, state: State, inp: Any, **extra: Any) -> Scope:
        return Scope(
            input=inp, execution_name=self.name, execution_input=self.input, state=state.name, **extra
        )

    def check_size(self, state: State, what: str, value: Any) -> None:
        """Raise StateSizeExceeded when ``value`` is over the state limit as UTF-8 JSON."""
        size = len(_encode(value).encode("utf-8"))
        if size > self.max_bytes:
            raise StateSizeExceeded(
                f"state {state.name!r}: {what} is {size} bytes, over the {self.max_bytes}-byte state limit"
            )

    # -- scopes ------------------------------------------------------------------------------------
    def machine(self, machine: Machine, inp: Any, prefix: str = "", cancel: Cancel | None = None) -> Any:
        """Run a scope from ``StartAt`` to its end; returns the last state's output."""
        visits: dict[str, int] = {}
        name: str | None = machine.start_at
        while name is not None:
            if cancel is not None and cancel.is_set():
                raise Cancelled
            state = machine.states[name]
            n = visits[name] = visits.get(name, 0) + 1
            path = f"{prefix}/{name}" if prefix else name
            if n > 1:
                path = f"{path}#{n}"
            inp, name = self.state(state, inp, path, cancel)
        return inp

    def state(self, state: State, inp: Any, path: str, cancel: Cancel | None) -> tuple[Any, str | None]:
        """Run one state with its Retry and Catch; returns ``(output, next state or None)``."""
        self.history.append("StateEntered", state.name, path, input=inp)
        counts = [0] * len(state.retry)
        retries = 0
        while True:
            try:
                self.check_size(state, "input", inp)
                out, nxt = self._attempt(state, inp, path, retries, cancel)
                self.check_size(state, "output", out)
            except Cancelled:
                raise
            except Exception as exc:
                if isinstance(exc, ExpressionError) and not exc.state:
                    exc = ExpressionError(exc.message, state=state.name)
                error = error_of(exc)
                rule = next((i for i, r in enumerate(state.retry) if r.matches(error["Code"])), None)
                if rule is not None and counts[rule] < state.retry[rule].max_attempts:
                    counts[rule] += 1
                    retries += 1
                    delay = state.retry[rule].delay(counts[rule])
                    kind = "TaskRetried" if state.type == "Task" else "StateRetried"
                    self.history.append(kind, state.name, path, RetryCount=retries, delay=delay, error=error)
                    self.sleep(delay)
                    _wait_for_straggler(exc, state)
                    continue
                return self._fail(state, inp, path, error, retries, exc)
            self.history.append("StateExited", state.name, path, output=out)
            return out, nxt

    def _fail(
        self, state: State, inp: Any, path: str, error: dict[str, str], retries: int, exc: Exception
    ) -> tuple[Any, str]:
        catcher = next((c for c in state.catch if c.matches(error["Code"])), None)
        if catcher is None:
            self.history.append("StateFailed", state.name, path, error=error, caught=False)
            if isinstance(exc, StateFailure):
                raise exc
            raise StateFailure(error["Code"], error["Detail"]) from exc
        try:
            out: Any = dict(error)
            if catcher.output is not None:
                out = catcher.output.render(self.scope(state, inp, error=error, retry_count=retries))
            self.check_size(state, "Catch output", out)
        except FlowError as second:
            failure = error_of(second)
            self.history.append("StateFailed", state.name, path, error=failure, caught=False)
            raise StateFailure(
                failure["Code"], f"state {state.name!r} Catch: {failure['Detail']}"
            ) from second
        self.history.append("StateFailed", state.name, path, error=error, caught=True, next=catcher.next)
        return out, catcher.next

    # -- one attempt of each state type ------------------------------------------------------------
    def _attempt(
        self, state: State, inp: Any, path: str, retries: int, cancel: Cancel | None
    ) -> tuple[Any, str | None]:
        effective = (
            inp if state.input is None else state.input.render(self.scope(state, inp, retry_count=retries))
        )
        kind = state.type
        nxt = state.next
        if kind == "Task":
            raw: Any = self._task(state, effective, path, retries)
        elif kind == "Map":
            raw = self._map(state, effective, path, cancel)
        elif kind == "Parallel":
            raw = self._parallel(state, effective, path, cancel)
        elif kind == "Choice":
            raw, nxt = effective, self._choose(state, effective)
        elif kind == "Wait":
            self.sleep(self._wait_seconds(state, effective))
            raw = effective
        elif kind == "Fail":
            raise StateFailure(state.code, state.detail)
        else:  # Pass, Succeed
            raw = effective
        if kind == "Succeed":
            nxt = None
        if state.output is None:
            return raw, nxt
        scope = self.scope(state, effective, output=raw, retry_count=retries)
        return state.output.render(scope), nxt

    def _choose(self, state: State, inp: Any) -> str:
        scope = self.scope(state, inp)
        for condition, target in state.choices:
            if condition(scope):
                return target
        if state.default is None:
            raise StateFailure(
                "FnF.NoChoiceMatched", f"state {state.name!r}: no Choice branch matched and no Default"
            )
        return state.default

    def _task(self, state: State, inp: Any, path: str, retries: int) -> dict[str, Any]:
        assert state.body is not None and state.handler is not None
        event = state.body.render(self.scope(state, inp, retry_count=retries))
        if path in self.done:
            return {"Body": self.done[path]}
        self.history.append("TaskScheduled", state.name, path, resource=state.resource, RetryCount=retries)
        deadline = None if state.timeout is None else time.monotonic() + state.timeout
        ctx = TaskContext(uuid.uuid4().hex, self.name, state.name, path, retries, deadline, self.services)
        try:
            result = self._invoke(state, event, ctx)
            text = _encode(result)  # results cross a JSON boundary, as with Function Compute
            self.check_size(state, "task result", result)
        except Exception as exc:
            self.history.append("TaskFailed", state.name, path, error=error_of(exc), RetryCount=retries)
            raise
        result = json.loads(text)
        self.history.append("TaskSucceeded", state.name, path, output=result, durable=False)
        return {"Body": result}

    @staticmethod
    def _invoke(state: State, event: Any, ctx: TaskContext) -> Any:
        assert state.handler is not None
        if state.timeout is None:
            return state.handler(event, ctx)
        box: dict[str, Any] = {}
        finished = threading.Event()

        def target() -> None:
            try:
                box["result"] = state.handler(event, ctx)  # type: ignore[misc]
            except BaseException as exc:
                box["error"] = exc
            finally:
                finished.set()

        worker = threading.Thread(target=target, name=f"task:{ctx.path}", daemon=True)
        worker.start()
        if not finished.wait(state.timeout):
            timeout = TaskTimeout(
                f"state {state.name!r}: the function did not return within {state.timeout:g} s"
            )
            timeout.straggler = worker  # type: ignore[attr-defined]
            raise timeout
        if "error" in box:
            raise box["error"]
        return box["result"]

    def _parallel(self, state: State, inp: Any, path: str, parent: Cancel | None) -> dict[str, Any]:
        cancel = Cancel(parent)
        jobs = [
            functools.partial(self.machine, b, inp, f"{path}/Branch{k}", cancel)
            for k, b in enumerate(state.branches)
        ]
        results = self._gather(jobs, len(jobs), cancel)
        return {f"Branch{k}": r for k, r in enumerate(results)}

    def _map(self, state: State, inp: Any, path: str, parent: Cancel | None) -> dict[str, Any]:
        assert state.items is not None
        items = state.items.render(self.scope(state, inp))
        if not isinstance(items, list):
            raise ExpressionError(
                f"ItemsPath must select a list, got {type(items).__name__}", state=state.name
            )
        limit = self._concurrency(state, inp)
        cancel = Cancel(parent)
        processor = state.branches[0]
        jobs = [
            functools.partial(self.machine, processor, it, f"{path}/{i}", cancel)
            for i, it in enumerate(items)
        ]
        return {"Items": self._gather(jobs, limit, cancel)}

    def _wait_seconds(self, state: State, inp: Any) -> float:
        """How long a Wait state waits: fixed ``Seconds``, ``Seconds.$``, or until a ``Timestamp``."""
        if state.wait_until is None:
            return state.seconds
        kind, spec = state.wait_until
        value = spec if isinstance(spec, str) else spec.render(self.scope(state, inp))
        if kind == "seconds":
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ExpressionError(f"Seconds must be a number ≥ 0, got {value!r}", state=state.name)
            return float(value)
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise ExpressionError(f"Timestamp must be RFC 3339, got {value!r}", state=state.name) from exc
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())

    def _concurrency(self, state: State, inp: Any) -> int:
        value: Any = state.concurrency
        if value is not None and not isinstance(value, int):
            try:
                value = value.render(self.scope(state, inp))
            except ExpressionError:
                value = None
        if value is None or value == 0:
            return DEFAULT_CONCURRENCY
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ExpressionError(f"MaxConcurrency must be a number, got {value!r}", state=state.name)
        return max(1, min(MAX_CONCURRENCY, int(value)))

    @staticmethod
    def _gather(jobs: Sequence[Callable[[], Any]], limit: int, cancel: Cancel) -> list[Any]:
        """Run ``jobs`` on up to ``limit`` threads; results in job order; the first failure wins."""
        if not jobs:
            return []
        results: list[Any] = [None] * len(jobs)
        failures: dict[int, BaseException] = {}

        def run(i: int) -> None:
            if cancel.is_set():
                return
            try:
                results[i] = jobs[i]()
            except Cancelled:
                pass
            except BaseException as exc:
                failures[i] = exc
                cancel.flag.set()

        with ThreadPoolExecutor(max_workers=max(1, min(limit, len(jobs)))) as pool:
            list(pool.map(run, range(len(jobs))))
        if failures:
            raise failures[min(failures)]
        if cancel.is_set():
            raise Cancelled
        return results
