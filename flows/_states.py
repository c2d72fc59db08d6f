"""One handler per state type: what a single attempt of that state does with its effective input.

What every state shares — the input and output constructors, size checks, ``Retry``, ``Catch`` and
the history events around them — is done once by :class:`flows._runner.Run` around these handlers.
A handler gets the run, the compiled state, the input after ``InputConstructor`` and the attempt
(where it runs, its retry count, the cancel switch), and returns ``(raw output, next state)``;
``None`` as the next state ends the scope. Adding a state type is adding one function to
:data:`HANDLERS`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ._errors import ExpressionError, StateFailure, TaskTimeout, error_of
from ._machine import State
from ._rules import MAX_CONCURRENCY

if TYPE_CHECKING:
    from ._runner import At, Cancel, Run

__all__ = ["DEFAULT_CONCURRENCY", "HANDLERS", "Attempt", "Outcome", "TaskContext"]

DEFAULT_CONCURRENCY = 10
Outcome = tuple[Any, "str | None"]


@dataclass(frozen=True)
class Attempt:
    """One attempt of a state: where it runs, how many retries came before, and its cancel switch."""

    at: At
    retries: int
    cancel: Cancel | None


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


def _encode(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def run_task(run: Run, state: State, inp: Any, attempt: Attempt) -> Outcome:
    """Call the function behind ``resourceArn``; its JSON result is ``$Output.Body``.

    A Task that succeeded before a resume is not called again: its recorded result is reused.
    """
    assert state.body is not None and state.handler is not None
    path = attempt.at.path
    event = state.body.render(run.scope(state, inp, retry_count=attempt.retries))
    if path in run.done:
        return {"Body": run.done[path]}, state.next
    run.event("TaskScheduled", state, attempt.at, resource=state.resource, RetryCount=attempt.retries)
    deadline = None if state.timeout is None else time.monotonic() + state.timeout
    ctx = TaskContext(uuid.uuid4().hex, run.name, state.name, path, attempt.retries, deadline, run.services)
    try:
        result = _invoke(state, event, ctx)
        text = _encode(result)  # results cross a JSON boundary, as with Function Compute
        run.check_size(state, "task result", result)
    except Exception as exc:
        run.event("TaskFailed", state, attempt.at, error=error_of(exc), RetryCount=attempt.retries)
        raise
    result = json.loads(text)
    run.event("TaskSucceeded", state, attempt.at, output=result)
    return {"Body": result}, state.next


def _invoke(state: State, event: Any, ctx: TaskContext) -> Any:
    """Call the handler; with a ``Timeout``, on a thread that is abandoned (not killed) when it expires."""
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
        timeout = TaskTimeout(f"state {state.name!r}: the function did not return within {state.timeout:g} s")
        timeout.straggler = worker  # type: ignore[attr-defined]
        raise timeout
    if "error" in box:
        raise box["error"]
    return box["result"]


def run_map(run: Run, state: State, inp: Any, attempt: Attempt) -> Outcome:
    """Run the Processor once per item of ``ItemsPath``; ``{"Items": [...]}`` in item order."""
    assert state.items is not None
    items = state.items.render(run.scope(state, inp))
    if not isinstance(items, list):
        raise ExpressionError(f"ItemsPath must select a list, got {type(items).__name__}", state=state.name)
    processor, at = state.branches[0], attempt.at
    jobs = [_job(run, processor, item, at.item(i)) for i, item in enumerate(items)]
    return {"Items": run.gather(jobs, _concurrency(run, state, inp), attempt.cancel)}, state.next


def _concurrency(run: Run, state: State, inp: Any) -> int:
    """``MaxConcurrency`` (a number, or ``MaxConcurrency.$``); 0 or null means the default."""
    value: Any = state.concurrency
    if value is not None and not isinstance(value, int):
        value = value.render(run.scope(state, inp))  # an ExpressionError fails the state
    if value is None or value == 0:
        return DEFAULT_CONCURRENCY
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ExpressionError(f"MaxConcurrency must be a number, got {value!r}", state=state.name)
    return max(1, min(MAX_CONCURRENCY, int(value)))


def run_parallel(run: Run, state: State, inp: Any, attempt: Attempt) -> Outcome:
    """Run every branch on the same input; ``{"Branch0": ..., "Branch1": ...}``."""
    at = attempt.at
    jobs = [_job(run, branch, inp, at.branch(k)) for k, branch in enumerate(state.branches)]
    results = run.gather(jobs, len(jobs), attempt.cancel)
    return {f"Branch{k}": r for k, r in enumerate(results)}, state.next


def _job(run: Run, machine: Any, inp: Any, at: At) -> Callable[[Cancel], Any]:
    return lambda cancel: run.machine(machine, inp, at, cancel)


def run_choice(run: Run, state: State, inp: Any, attempt: Attempt) -> Outcome:
    """Go to the first branch whose Condition holds, else ``Default``."""
    scope = run.scope(state, inp)
    for condition, target in state.choices:
        if condition(scope):
            return inp, target
    if state.default is None:
        raise StateFailure(
            "FnF.NoChoiceMatched", f"state {state.name!r}: no Choice branch matched and no Default"
        )
    return inp, state.default


def run_wait(run: Run, state: State, inp: Any, attempt: Attempt) -> Outcome:
    """Wait fixed ``Seconds``, ``Seconds.$``, or until a ``Timestamp`` (``.$``)."""
    run.sleep(_wait_seconds(run, state, inp))
    return inp, state.next


def _wait_seconds(run: Run, state: State, inp: Any) -> float:
    if state.wait_until is None:
        return state.seconds
    kind, spec = state.wait_until
    value = spec if isinstance(spec, str) else spec.render(run.scope(state, inp))
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


def run_pass(run: Run, state: State, inp: Any, attempt: Attempt) -> Outcome:
    """Pass the input on (the constructors around it do the work)."""
    return inp, state.next


def run_succeed(run: Run, state: State, inp: Any, attempt: Attempt) -> Outcome:
    """End the scope successfully."""
    return inp, None


def run_fail(run: Run, state: State, inp: Any, attempt: Attempt) -> Outcome:
    """Fail the scope with the state's ``Code`` and ``Detail``."""
    raise StateFailure(state.code, state.detail)


HANDLERS: dict[str, Callable[[Run, State, Any, Attempt], Outcome]] = {
    "Task": run_task,
    "Map": run_map,
    "Parallel": run_parallel,
    "Choice": run_choice,
    "Wait": run_wait,
    "Pass": run_pass,
    "Succeed": run_succeed,
    "Fail": run_fail,
}
