"""The thin-handler runtime every step shares.

:func:`step` turns a step's pure ``run(inp, ctx)`` into ``handler(event, context)`` by stacking
four small layers, each usable (and tested) on its own:

1. :func:`parse_event`: the event (a mapping, or JSON text) into the step's input model;
2. :func:`log_context`: the ids bound to every log line, and one ``step.done``/``failed`` line;
3. :func:`stage_progress`: the video's stage recorded running → ok/failed, through the sink;
4. :func:`dump_output`: the output as JSON, refused over the 64 KiB state limit
   (measured by :func:`state_size`, the one measure of a state's size).
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

from ._analysis import AnalyzerRegistry
from ._analyzers import ANALYZERS
from ._logging import get_logger
from ._manifest import load_manifest
from ._progress import OPTIONAL_STAGES, ProgressSink, progress_sink, record_stage
from ._settings import Settings
from ._workspace import TaskWorkspace
from .errors import InvalidStepInput, OutputTooLarge, PermanentError, VideoInsightError

__all__ = [
    "MAX_STATE_BYTES",
    "StepContext",
    "StepModel",
    "VideoRef",
    "dump_output",
    "log_context",
    "parse_event",
    "process_settings",
    "stage_progress",
    "state_size",
    "step",
    "step_context",
    "step_services",
]

MAX_STATE_BYTES = 64 * 1024  # CloudFlow's limit on a state's input and output
In = TypeVar("In", bound=BaseModel)
log = get_logger(__name__)
_settings_cache: Settings | None = None


class StepModel(BaseModel):
    """Base of step input/output models: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class VideoRef(StepModel):
    """The reference every per-video step takes and returns."""

    task_id: str
    video_id: str


def process_settings() -> Settings:
    """Settings for a handler called without any (read once from the environment)."""
    global _settings_cache
    if _settings_cache is None:
        _settings_cache = Settings.from_env()
    return _settings_cache


@dataclass
class StepContext:
    """What a step's ``run`` may use besides its input."""

    settings: Settings
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    execution: str = ""
    deadline: float | None = None  # time.monotonic() value, when known
    log: Any = None
    progress: ProgressSink | None = None  # None: a sink with the reporters ``settings`` enable
    analyzers: AnalyzerRegistry = field(default_factory=lambda: ANALYZERS)

    def __post_init__(self) -> None:
        if self.progress is None:
            self.progress = progress_sink(self.settings)

    def workspace(self, task_id: str) -> TaskWorkspace:
        """The workspace of ``task_id`` under the configured root."""
        return TaskWorkspace(self.settings.workspace, task_id)


def state_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON: how CloudFlow and the embedded engine size a state."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def step_services(settings: Settings, progress: ProgressSink | None = None) -> dict[str, Any]:
    """The ``services`` an engine hands every Task: settings, and the sink progress goes to."""
    return {"settings": settings, "progress": progress if progress is not None else progress_sink(settings)}


def step_context(context: Any) -> StepContext:
    """A :class:`StepContext` from what the caller passed: one already, an engine's task context, or None."""
    if isinstance(context, StepContext):
        return context
    services: Mapping[str, Any] = getattr(context, "services", None) or {}
    return StepContext(
        settings=services.get("settings") or process_settings(),
        request_id=str(getattr(context, "request_id", "") or uuid.uuid4().hex),
        execution=str(getattr(context, "execution", "") or ""),
        deadline=getattr(context, "deadline", None),
        progress=services.get("progress"),
    )


def parse_event(name: str, model: type[In], event: Any) -> In:
    """``event`` (a mapping, or JSON text or bytes) as ``model``; ``InvalidStepInput`` when it is not one."""
    if isinstance(event, (bytes, str)):
        try:
            event = json.loads(event)
        except ValueError as exc:
            raise InvalidStepInput(f"{name}: event is not JSON: {exc}") from exc
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise InvalidStepInput(f"{name}: invalid input at {where}: {first['msg']}") from exc


def _ids(inp: BaseModel) -> dict[str, str]:
    return {k: str(getattr(inp, k)) for k in ("task_id", "video_id") if hasattr(inp, k)}


@contextmanager
def log_context(name: str, ctx: StepContext, ids: Mapping[str, str]) -> Iterator[None]:
    """Bind step, execution, request and ids to every log line inside; log how the block ended."""
    with structlog.contextvars.bound_contextvars(
        step=name, execution=ctx.execution, request_id=ctx.request_id, **ids
    ):
        ctx.log = log
        started = time.perf_counter()
        try:
            yield
        except VideoInsightError as exc:
            log.info("step.failed", code=exc.code, message=exc.message)
            raise
        except Exception as exc:
            log.error("step.crashed", error=repr(exc), exc_info=True)
            raise
        log.info("step.done", seconds=round(time.perf_counter() - started, 3))


@contextmanager
def stage_progress(ctx: StepContext, stage: str | None, ids: Mapping[str, str]) -> Iterator[None]:
    """Record ``stage`` of the video in ``ids`` as running, then as it ended, through ``ctx.progress``.

    A video its task's manifest does not list (or a task without one) is refused with
    ``InvalidStepInput`` before anything is written. A permanent error marks the stage failed (an
    optional stage skipped: the flow goes on without it); a transient one or a crash leaves it
    running with the reason, since the flow retries it.
    """
    if stage is None or "video_id" not in ids:
        yield
        return
    ws = ctx.workspace(ids["task_id"])
    load_manifest(ws).video(ids["video_id"])  # raises for an unknown task or video
    record = functools.partial(record_stage, ws, ids["video_id"], stage, sink=ctx.progress)
    record("running")
    try:
        yield
    except VideoInsightError as exc:
        if isinstance(exc, PermanentError):
            record("skipped" if stage in OPTIONAL_STAGES else "failed", exc.to_dict())
        else:
            record("running", exc.to_dict())
        raise
    except Exception as exc:  # FC.Unknown is retried too; RecordFailure records the end
        record("running", {"code": "FC.Unknown", "message": str(exc)})
        raise
    record("ok")


def dump_output(name: str, out: BaseModel) -> dict[str, Any]:
    """``out`` as JSON-ready data; ``OutputTooLarge`` when :func:`state_size` is over the limit."""
    result = out.model_dump(mode="json")
    size = state_size(result)
    if size > MAX_STATE_BYTES:
        raise OutputTooLarge(f"{name}: output is {size} bytes, over the {MAX_STATE_BYTES}-byte state limit")
    return result


def step(
    name: str, model: type[In], *, stage: str | None = None
) -> Callable[[Callable[[In, StepContext], BaseModel]], Callable[..., dict[str, Any]]]:
    """Wrap ``run(inp, ctx)`` into ``handler(event, context=None) -> dict`` (see the module doc)."""

    def wrap(run: Callable[[In, StepContext], BaseModel]) -> Callable[..., dict[str, Any]]:
        @functools.wraps(run)
        def handler(event: Any, context: Any = None) -> dict[str, Any]:
            inp = parse_event(name, model, event)
            ctx = step_context(context)
            ids = _ids(inp)
            with log_context(name, ctx, ids), stage_progress(ctx, stage, ids):
                return dump_output(name, run(inp, ctx))

        handler.step_name = name  # type: ignore[attr-defined]
        handler.run = run  # type: ignore[attr-defined]
        return handler

    return wrap
