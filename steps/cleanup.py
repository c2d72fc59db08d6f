"""Cleanup step: remove task workspaces untouched for a while (the daily timer, not a flow Task).

Function Compute's timer trigger invokes ``video-insight-cleanup`` with ``{triggerTime,
triggerName, payload}``; the payload is the idle age after which a task is removed (``24h``), as in
``video-insight clean --older-than 24h``.
"""

from __future__ import annotations

from pydantic import ConfigDict

from ._cleanup import clean_workspace, parse_duration
from ._logging import get_logger
from ._runtime import StepContext, StepModel, step
from .errors import InvalidStepInput

__all__ = ["DEFAULT_AGE", "CleanupOutput", "TimerEvent", "handler", "run"]

DEFAULT_AGE = "24h"
MAX_LISTED = 100  # removed ids listed in the output, far below the 64 KiB state limit
log = get_logger(__name__)


class TimerEvent(StepModel):
    """An FC timer trigger's event (fields FC may add later are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    triggerTime: str | None = None
    triggerName: str | None = None
    payload: str | None = None


class CleanupOutput(StepModel):
    older_than_s: float
    removed_count: int
    removed: list[str]  # the first MAX_LISTED ids


def run(inp: TimerEvent, ctx: StepContext) -> CleanupOutput:
    """Remove task workspaces idle for ``payload`` (default 24h); a bad payload is InvalidStepInput."""
    age = (inp.payload or "").strip() or DEFAULT_AGE
    try:
        seconds = parse_duration(age)
    except ValueError as exc:
        raise InvalidStepInput(f"cleanup: timer payload: {exc}") from exc
    removed = clean_workspace(ctx.settings.workspace, seconds)
    log.info("cleanup.done", removed=len(removed), older_than_s=seconds)
    return CleanupOutput(older_than_s=seconds, removed_count=len(removed), removed=removed[:MAX_LISTED])


handler = step("cleanup", TimerEvent)(run)
