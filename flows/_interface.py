"""The engine interface: what the CLI and the gateway may ask of any workflow engine.

Three engines implement :class:`ExecutionEngine`: the embedded one (:class:`flows.Engine`), the
CloudFlow client (fnf SDK) and the local CloudFlow-compatible endpoint built on the embedded one.
Callers see executions only as :class:`Execution` snapshots and statuses only as
:class:`ExecutionStatus`; nothing here names a file, a process or an SDK type.

    execution = engine.start("t20261127-1", {"task_id": "t20261127-1"})   # returns at once
    execution = engine.wait(execution.name, timeout=60)
    if execution.status is ExecutionStatus.SUCCEEDED: ...
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

__all__ = ["Execution", "ExecutionEngine", "ExecutionStatus", "HistoryEvent"]

HistoryEvent = Mapping[str, Any]
"""One history event: ``{id, ts, type, state, path, ...}`` in CloudFlow's event names
(``ExecutionStarted``, ``StateEntered``, ``TaskSucceeded``, ``StateFailed``, ``ExecutionStopped``…)."""


class ExecutionStatus(StrEnum):
    """An execution's status, with the values of CloudFlow's ``DescribeExecution``."""

    STARTING = "Starting"
    RUNNING = "Running"
    STOPPED = "Stopped"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TIMED_OUT = "TimedOut"

    @property
    def finished(self) -> bool:
        """Whether the execution has ended (Stopped, Succeeded, Failed or TimedOut)."""
        return self not in (ExecutionStatus.STARTING, ExecutionStatus.RUNNING)


@dataclass(frozen=True)
class Execution:
    """A snapshot of one execution as an engine describes it.

    Attributes:
        started: Unix time of the start; ``stopped`` of the end (None while it runs).
        error: CloudFlow's ``{"Code", "Detail"}`` of a failed or stopped execution.
        resumable: the execution is Running but nothing runs it any more (its process died), or it
            failed with ``Engine.StorageFull`` (a full disk; resume once space is freed);
            ``engine.resume(name)`` continues it. Always False on engines that cannot resume.
    """

    name: str
    flow: str
    status: ExecutionStatus
    input: Any = None
    output: Any = None
    error: Mapping[str, str] | None = None
    started: float | None = None
    stopped: float | None = None
    resumable: bool = False

    @property
    def done(self) -> bool:
        """Whether the execution has ended."""
        return self.status.finished

    @property
    def seconds(self) -> float | None:
        """Wall time from start to end, once ended."""
        if self.started is None or self.stopped is None:
            return None
        return self.stopped - self.started


@runtime_checkable
class ExecutionEngine(Protocol):
    """Starts and inspects the executions of one flow.

    Execution names follow CloudFlow: ``[A-Za-z_][A-Za-z0-9_-]{0,127}``, one execution per name.
    Starting a name that is still running returns that execution (it is "already started", never a
    second one); a name that has ended raises :class:`flows.ExecutionAlreadyExists`. An unknown
    name raises :class:`flows.ExecutionNotFound`. Every engine error is a :class:`flows.FlowError`.
    """

    @property
    def flow(self) -> str:
        """The name of the flow whose executions this engine runs."""
        ...

    def start(self, name: str, input: Mapping[str, Any] | None = None) -> Execution:
        """Start execution ``name`` with ``input`` (default ``{}``) and return without waiting."""
        ...

    def describe(self, name: str) -> Execution:
        """The execution called ``name``, as it is now."""
        ...

    def wait(self, name: str, timeout: float | None = None) -> Execution:
        """Block until ``name`` ends or ``timeout`` seconds pass; returns it as it is then.

        Also returns when nothing runs the execution any more (``resumable``).
        """
        ...

    def list(self) -> builtins.list[Execution]:
        """Every execution of the flow, oldest first."""
        ...

    def history(self, name: str) -> builtins.list[HistoryEvent]:
        """Every history event of ``name``, in order (all pages)."""
        ...

    def stop(self, name: str, *, error: str = "Stopped", cause: str = "") -> Execution:
        """Stop a running execution; it ends as Stopped with ``{"Code": error, "Detail": cause}``.

        Raises :class:`flows.ExecutionNotRunning` if it has already ended.
        """
        ...

    def resume(self, name: str) -> Execution:
        """Continue a ``resumable`` execution, reusing every finished Task's result.

        Raises :class:`flows.ExecutionNotResumable` if it cannot be resumed or the engine cannot resume.
        """
        ...
