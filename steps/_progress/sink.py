"""Where recorded progress goes once it is on disk: a sink that hands each update to its reporters.

The per-stage files stay the durable record any machine can read; the sink only says *that*
something changed, so a reporter (the terminal display, the Feishu card) renders the task from
those files when told, instead of polling them. A reporter is a callable taking a
:class:`ProgressUpdate`; it runs in the thread of the step that recorded the update, so it should
be quick (or hand the work to its own thread). A reporter that raises is logged and ignored:
reporting never fails a step.

:func:`progress_sink` is the one place where the reporters a process's settings enable are added;
the embedded engine passes its sink to every Task through ``services``, and a step that runs in a
process of its own (Function Compute) gets ``progress_sink(settings)`` in its :class:`StepContext`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .._logging import get_logger
from .._settings import Settings
from .._workspace import TaskWorkspace

__all__ = [
    "REPORTERS_FROM_SETTINGS",
    "ProgressReporter",
    "ProgressSink",
    "ProgressUpdate",
    "ReporterFactory",
    "progress_sink",
]

log = get_logger(__name__)


@dataclass(frozen=True)
class ProgressUpdate:
    """One change that was just recorded: a stage of a video, or fields of the task."""

    ws: TaskWorkspace
    video_id: str | None = None  # set for a stage update
    stage: str | None = None
    status: str | None = None  # pending | running | ok | skipped | failed
    error: Mapping[str, str] | None = None  # {code, message, stage} when the stage failed or retries
    fields: Mapping[str, Any] = field(default_factory=dict)  # a task update: phase, total, outputs …
    at: float = field(default_factory=time.time)

    @property
    def task_id(self) -> str:
        return self.ws.task_id


ProgressReporter = Callable[[ProgressUpdate], None]
ReporterFactory = Callable[[Settings], ProgressReporter | None]


class ProgressSink:
    """Hands every recorded update to the registered reporters, in registration order."""

    def __init__(self, reporters: Iterable[ProgressReporter] = ()) -> None:
        self._lock = threading.Lock()
        self._reporters: tuple[ProgressReporter, ...] = tuple(reporters)

    def register(self, reporter: ProgressReporter) -> ProgressReporter:
        """Add ``reporter``; returns it (so this works as a decorator too)."""
        with self._lock:
            self._reporters = (*self._reporters, reporter)
        return reporter

    def unregister(self, reporter: ProgressReporter) -> None:
        """Remove ``reporter`` (its first registration); nothing happens when it is not registered."""
        with self._lock:
            reporters = list(self._reporters)
            if reporter in reporters:
                reporters.remove(reporter)
            self._reporters = tuple(reporters)

    @contextmanager
    def registered(self, reporter: ProgressReporter) -> Iterator[ProgressReporter]:
        """``with sink.registered(view.report): ...``: registered for the block only."""
        self.register(reporter)
        try:
            yield reporter
        finally:
            self.unregister(reporter)

    @property
    def reporters(self) -> tuple[ProgressReporter, ...]:
        return self._reporters

    def publish(self, update: ProgressUpdate) -> None:
        """Give ``update`` to every reporter; one that raises is logged and the others still run."""
        for reporter in self._reporters:  # a tuple, replaced whole on change: safe to iterate unlocked
            try:
                reporter(update)
            except Exception as exc:
                log.warning(
                    "progress.reporter_failed",
                    reporter=getattr(reporter, "__qualname__", type(reporter).__qualname__),
                    task_id=update.task_id,
                    error=repr(exc),
                )


# Reporters that settings switch on, for every process that runs steps (the CLI, the gateway and
# each Function Compute instance). Each factory returns None when its settings are absent; it must
# be cheap and import what it needs lazily, since every step invocation in Function Compute calls it.
def _feishu_card(settings: Settings) -> ProgressReporter | None:
    """The Feishu progress card, for tasks asked for in Feishu (imported only when the app is configured)."""
    if not settings.feishu_configured:
        return None
    from .._feishu._reporter import card_reporter

    return card_reporter(settings)


REPORTERS_FROM_SETTINGS: tuple[ReporterFactory, ...] = (_feishu_card,)


def progress_sink(settings: Settings, factories: Iterable[ReporterFactory] | None = None) -> ProgressSink:
    """A new sink holding every reporter that ``settings`` enable.

    Args:
        settings: the process's settings.
        factories: what builds the reporters; ``REPORTERS_FROM_SETTINGS`` by default.
    """
    sink = ProgressSink()
    for factory in REPORTERS_FROM_SETTINGS if factories is None else factories:
        try:
            reporter = factory(settings)
        except Exception as exc:  # a reporter that cannot start must not stop the step
            log.warning("progress.reporter_unavailable", factory=factory.__qualname__, error=repr(exc))
            continue
        if reporter is not None:
            sink.register(reporter)
    return sink
