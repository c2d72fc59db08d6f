"""The thin-handler runtime every step shares: parse → run → dump, with logs, progress and limits."""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

from ._logging import get_logger
from ._progress import record_stage
from ._settings import Settings
from ._workspace import TaskWorkspace
from .errors import InvalidStepInput, OutputTooLarge, PermanentError, VideoInsightError

__all__ = [
    "MAX_STATE_BYTES",
    "StepContext",
    "StepModel",
    "VideoRef",
    "process_settings",
    "step",
]

MAX_STATE_BYTES = 64 * 1024
In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)
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

    def workspace(self, task_id: str) -> TaskWorkspace:
        """The workspace of ``task_id`` under the configured root."""
        return TaskWorkspace(self.settings.workspace, task_id)


def _context_from(name: str, context: Any) -> StepContext:
    if isinstance(context, StepContext):
        return context
    services: Mapping[str, Any] = getattr(context, "services", None) or {}
    settings = services.get("settings") or process_settings()
    return StepContext(
        settings=settings,
        request_id=str(getattr(context, "request_id", "") or uuid.uuid4().hex),
        execution=str(getattr(context, "execution", "") or ""),
        deadline=getattr(context, "deadline", None),
    )


def step(
    name: str, model: type[In], *, stage: str | None = None
) -> Callable[[Callable[[In, StepContext], BaseModel]], Callable[..., dict[str, Any]]]:
    """Wrap ``run(inp, ctx)`` into ``handler(event, context=None) -> dict``.

    The handler validates the event against ``model`` (``InvalidStepInput`` on mismatch), binds
    log context, records the video's progress for ``stage``, and checks the output against the
    64 KiB state limit.
    """

    def wrap(run: Callable[[In, StepContext], BaseModel]) -> Callable[..., dict[str, Any]]:
        @functools.wraps(run)
        def handler(event: Any, context: Any = None) -> dict[str, Any]:
            if isinstance(event, (bytes, str)):
                try:
                    event = json.loads(event)
                except ValueError as exc:
                    raise InvalidStepInput(f"{name}: event is not JSON: {exc}") from exc
            try:
                inp = model.model_validate(event)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "(root)"
                raise InvalidStepInput(f"{name}: invalid input at {where}: {first['msg']}") from exc
            ctx = _context_from(name, context)
            ids = {k: getattr(inp, k) for k in ("task_id", "video_id") if hasattr(inp, k)}
            ws = ctx.workspace(ids["task_id"]) if stage and "video_id" in ids else None
            with structlog.contextvars.bound_contextvars(
                step=name, execution=ctx.execution, request_id=ctx.request_id, **ids
            ):
                ctx.log = log
                started = time.perf_counter()
                if ws is not None and stage:
                    record_stage(ws, ids["video_id"], stage, "running")
                try:
                    out = run(inp, ctx)
                except VideoInsightError as exc:
                    log.info("step.failed", code=exc.code, message=exc.message)
                    if ws is not None and stage:
                        # a transient fault is retried by the flow: the stage stays running, with the reason
                        status = "failed" if isinstance(exc, PermanentError) else "running"
                        record_stage(ws, ids["video_id"], stage, status, exc.to_dict())
                    raise
                except Exception as exc:
                    log.error("step.crashed", error=repr(exc), exc_info=True)
                    if ws is not None and stage:  # FC.Unknown is retried too; VideoFailed records the end
                        error = {"code": "FC.Unknown", "message": str(exc)}
                        record_stage(ws, ids["video_id"], stage, "running", error)
                    raise
                result = out.model_dump(mode="json")
                size = len(json.dumps(result, ensure_ascii=False).encode("utf-8"))
                if size > MAX_STATE_BYTES:
                    raise OutputTooLarge(f"{name}: output is {size} bytes, over the 64 KiB state limit")
                if ws is not None and stage:
                    record_stage(ws, ids["video_id"], stage, "ok")
                log.info("step.done", seconds=round(time.perf_counter() - started, 3))
                return result

        handler.step_name = name  # type: ignore[attr-defined]
        handler.run = run  # type: ignore[attr-defined]
        return handler

    return wrap
