"""The interpreter: runs compiled states of one execution, writing history as it goes.

:class:`Run` is the one executor around the per-type handlers of ``flows._states``: for every
state it records ``StateEntered``, applies the ``InputConstructor``, calls the handler, applies the
``OutputConstructor``, checks sizes, and routes a failure through ``Retry`` and ``Catch``.

A state's ``path`` names its scope: ``Videos/3/Understand/Branch1/Shots`` is the Shots state of
Parallel branch 1 inside Map iteration 3. A state visited again in the same scope (a Choice loop)
gets ``#2``, ``#3``… so paths stay unique and resume can match a Task to its recorded result. Its
``key`` names the state in the definition (``Videos/Understand/Branch1/Shots``): the same for
every iteration and visit, so statistics group by it (names alone repeat across scopes).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import structlog

from ._errors import (
    EventLimitExceeded,
    ExpressionError,
    FlowError,
    StateFailure,
    StateSizeExceeded,
    error_of,
    storage_full,
)
from ._expr import Scope
from ._history import HistoryWriter
from ._machine import Machine, State
from ._states import HANDLERS, Attempt, Outcome

__all__ = ["At", "Cancel", "Cancelled", "Run"]

log = structlog.get_logger(logger_name=__name__)


@dataclass(frozen=True)
class At:
    """Where a state runs: ``path`` names this visit, ``key`` the state in the definition."""

    path: str = ""
    key: str = ""

    def state(self, name: str, visit: int) -> At:
        path = f"{self.path}/{name}" if self.path else name
        key = f"{self.key}/{name}" if self.key else name
        return At(path if visit == 1 else f"{path}#{visit}", key)

    def branch(self, k: int) -> At:
        return At(f"{self.path}/Branch{k}", f"{self.key}/Branch{k}")

    def item(self, i: int) -> At:
        return At(f"{self.path}/{i}", self.key)


class Cancelled(Exception):
    """A sibling branch or iteration failed, or the execution was stopped: stop before the next state."""


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


def _encode(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


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

    def event(self, kind: str, state: State, at: At, **fields: Any) -> None:
        """Record one history event of ``state`` at ``at``."""
        self.history.append(kind, state.name, at.path, key=at.key, **fields)

    def check_size(self, state: State, what: str, value: Any) -> None:
        """Raise StateSizeExceeded when ``value`` is over the state limit as UTF-8 JSON."""
        size = len(_encode(value).encode("utf-8"))
        if size > self.max_bytes:
            raise StateSizeExceeded(
                f"state {state.name!r}: {what} is {size} bytes, over the {self.max_bytes}-byte state limit"
            )

    # -- scopes ------------------------------------------------------------------------------------
    def machine(self, machine: Machine, inp: Any, at: At = At(), cancel: Cancel | None = None) -> Any:
        """Run a scope from ``StartAt`` to its end; returns the last state's output."""
        visits: dict[str, int] = {}
        name: str | None = machine.start_at
        while name is not None:
            if cancel is not None and cancel.is_set():
                raise Cancelled
            state = machine.states[name]
            visits[name] = visits.get(name, 0) + 1
            inp, name = self.state(state, inp, at.state(name, visits[name]), cancel)
        return inp

    def state(self, state: State, inp: Any, at: At, cancel: Cancel | None) -> Outcome:
        """Run one state with its Retry and Catch; returns ``(output, next state or None)``."""
        self.event("StateEntered", state, at, input=inp)
        counts = [0] * len(state.retry)
        retries = 0
        while True:
            try:
                self.check_size(state, "input", inp)
                out, nxt = self._attempt(state, inp, Attempt(at, retries, cancel))
                self.check_size(state, "output", out)
            except (Cancelled, EventLimitExceeded):  # the latter fails the execution, as in CloudFlow
                raise
            except Exception as exc:
                full = storage_full(exc)
                if full is not None:  # no video is at fault: no Retry, no Catch; the execution ends
                    with contextlib.suppress(OSError):
                        self.event("StateFailed", state, at, error=error_of(full), caught=False)
                    if full is exc:
                        raise
                    raise full from exc
                if isinstance(exc, ExpressionError) and not exc.state:
                    exc = ExpressionError(exc.message, state=state.name)
                error = error_of(exc)
                rule = next((i for i, r in enumerate(state.retry) if r.matches(error["Code"])), None)
                if rule is not None and counts[rule] < state.retry[rule].max_attempts:
                    counts[rule] += 1
                    retries += 1
                    delay = state.retry[rule].delay(counts[rule])
                    kind = "TaskRetried" if state.type == "Task" else "StateRetried"
                    self.event(kind, state, at, RetryCount=retries, delay=delay, error=error)
                    self.sleep(delay)
                    _wait_for_straggler(exc, state)
                    continue
                return self._fail(state, inp, at, error, retries, exc)
            self.event("StateExited", state, at, output=out)
            return out, nxt

    def _attempt(self, state: State, inp: Any, attempt: Attempt) -> Outcome:
        """The constructors around the state type's handler: the part every state shares."""
        retry_count = attempt.retries
        effective = (
            inp
            if state.input is None
            else state.input.render(self.scope(state, inp, retry_count=retry_count))
        )
        raw, nxt = HANDLERS[state.type](self, state, effective, attempt)
        if state.output is None:
            return raw, nxt
        scope = self.scope(state, effective, output=raw, retry_count=retry_count)
        return state.output.render(scope), nxt

    def _fail(
        self, state: State, inp: Any, at: At, error: dict[str, str], retries: int, exc: Exception
    ) -> tuple[Any, str]:
        catcher = next((c for c in state.catch if c.matches(error["Code"])), None)
        if catcher is None:
            self.event("StateFailed", state, at, error=error, caught=False)
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
            self.event("StateFailed", state, at, error=failure, caught=False)
            raise StateFailure(
                failure["Code"], f"state {state.name!r} Catch: {failure['Detail']}"
            ) from second
        self.event("StateFailed", state, at, error=error, caught=True, next=catcher.next)
        return out, catcher.next

    @staticmethod
    def gather(jobs: Sequence[Callable[[Cancel], Any]], limit: int, parent: Cancel | None) -> list[Any]:
        """Run ``jobs`` on up to ``limit`` threads; results in job order; the first failure wins.

        Each job gets a cancel switch that is set when a sibling fails (or ``parent`` is set).
        """
        if not jobs:
            return []
        cancel = Cancel(parent)
        results: list[Any] = [None] * len(jobs)
        failures: dict[int, BaseException] = {}

        def run(i: int) -> None:
            if cancel.is_set():
                return
            try:
                results[i] = jobs[i](cancel)
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
