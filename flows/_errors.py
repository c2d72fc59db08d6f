"""Errors raised by the embedded CloudFlow engine, its expressions and its history store.

Every class carries a CloudFlow-style ``code``; a state that fails with one of these is routed by
``Retry``/``Catch`` on that code exactly like an error raised by a step::

    FlowError                       FnF.Error
    ├── SpecError                   FnF.InvalidSpec        the definition cannot run (construction time)
    ├── ExpressionError             FnF.ExpressionError    an expression or condition failed to evaluate
    ├── StateSizeExceeded           FnF.StateSizeExceeded  a state's input/output is over 64 KiB
    ├── TaskTimeout                 FnF.TaskTimeout        a Task ran past its ``Timeout``
    ├── EventLimitExceeded          FnF.EventLimitExceeded the execution recorded more events than allowed
    ├── StateFailure                (any code)             a failure travelling up: Fail state, Map/Parallel
    ├── ExecutionAlreadyExists      ExecutionAlreadyExists the name belongs to a finished execution
    ├── ExecutionNotFound           ExecutionNotFound      no execution has that name
    ├── ExecutionNotResumable       ExecutionNotResumable  finished, or still alive in another process
    ├── ExecutionNotRunning         ExecutionNotRunning    stop: the execution has already ended
    └── StorageFull                 Engine.StorageFull     the disk under the workspace or history is full

``StorageFull`` is the exception to the routing rule: it is never retried or caught, since no video
is at fault; the execution ends Failed with it and ``resume`` continues it once space is freed.
"""

from __future__ import annotations

import errno

__all__ = [
    "EventLimitExceeded",
    "ExecutionAlreadyExists",
    "ExecutionNotFound",
    "ExecutionNotResumable",
    "ExecutionNotRunning",
    "ExpressionError",
    "FlowError",
    "SpecError",
    "StateFailure",
    "StateSizeExceeded",
    "StorageFull",
    "TaskTimeout",
    "error_of",
    "storage_full",
]


class FlowError(Exception):
    """Base of the errors the flow engine raises on purpose."""

    code = "FnF.Error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SpecError(FlowError):
    """The flow definition cannot be executed (unknown ARN, unknown state type, bad expression)."""

    code = "FnF.InvalidSpec"


class ExpressionError(FlowError):
    """An expression or Choice condition could not be parsed or evaluated."""

    code = "FnF.ExpressionError"

    def __init__(self, message: str, *, expression: str = "", state: str = "") -> None:
        where = f"state {state!r}: " if state else ""
        what = f"expression {expression!r}: " if expression else ""
        super().__init__(f"{where}{what}{message}")
        self.expression = expression
        self.state = state


class StateSizeExceeded(FlowError):
    """A state's input or output exceeds the 64 KiB CloudFlow limit."""

    code = "FnF.StateSizeExceeded"


class TaskTimeout(FlowError):
    """A Task's handler did not return before the state's ``Timeout``."""

    code = "FnF.TaskTimeout"


class EventLimitExceeded(FlowError):
    """The execution passed its event limit (CloudFlow: 5,000 by default); it fails as a whole.

    No Retry or Catch handles it, as in CloudFlow. The code's spelling is this project's (?).
    """

    code = "FnF.EventLimitExceeded"


class StateFailure(FlowError):
    """A failure with an arbitrary code travelling up the state tree (Fail, Map, Parallel)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code  # type: ignore[misc]
        self.detail = detail


class ExecutionAlreadyExists(FlowError):
    """An execution with this name already finished; CloudFlow names are single-use."""

    code = "ExecutionAlreadyExists"


class ExecutionNotFound(FlowError):
    """No execution with this name exists in the store."""

    code = "ExecutionNotFound"


class ExecutionNotResumable(FlowError):
    """The execution cannot be resumed: it finished, or its process is still alive."""

    code = "ExecutionNotResumable"


class ExecutionNotRunning(FlowError):
    """The execution has already ended, so it cannot be stopped."""

    code = "ExecutionNotRunning"


class StorageFull(FlowError):
    """The disk under the workspace or the execution history is full (``ENOSPC``, ``EDQUOT``)."""

    code = "Engine.StorageFull"


_FULL = {errno.ENOSPC, errno.EDQUOT}


def storage_full(exc: BaseException) -> StorageFull | None:
    """``exc`` as :class:`StorageFull` when it is, or was raised because of, a full disk; else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, StorageFull):
            return current
        if isinstance(current, OSError) and current.errno in _FULL:
            where = f": {current.filename}" if current.filename else ""
            return StorageFull(f"no space left on the disk ({current.strerror or current}){where}")
        current = current.__cause__ or current.__context__
    return None


def error_of(exc: BaseException) -> dict[str, str]:
    """CloudFlow's ``{Code, Detail}`` for an exception: its string ``code``, else ``FC.Unknown``."""
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        detail = getattr(exc, "detail", None)
        if not isinstance(detail, str):
            detail = str(getattr(exc, "message", None) or exc)
        return {"Code": code, "Detail": detail}
    return {"Code": "FC.Unknown", "Detail": f"{type(exc).__name__}: {exc}"}
