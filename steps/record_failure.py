"""RecordFailure: the Processor's Catch lands here; write why the video failed and mark its progress.

Input is what the Catch builds from ``$Context.Current.Error``: ``{task_id, video_id, error:
{Code, Detail}}``. The failed stage is read from the video's progress file (the step that failed
recorded it), so the record says *where* as well as *why*. Safe to run again.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import ConfigDict

from ._artifacts import ErrorInfo, save_artifact
from ._logging import get_logger
from ._manifest import load_manifest
from ._progress import STAGES, load_video_progress, record_stage
from ._runtime import StepContext, StepModel, step
from ._workspace import TaskWorkspace
from .errors import error_from_code

__all__ = [
    "CaughtError",
    "FailureInput",
    "FailureOutput",
    "failed_stage",
    "friendly_message",
    "handler",
    "run",
]

log = get_logger(__name__)

# Engine codes whose Detail is often empty or a stack trace: say what happened in plain words.
ENGINE_MESSAGES = {
    "FnF.TaskTimeout": "the step took too long",
    "FnF.StateSizeExceeded": "a step produced more data than a workflow state may carry",
    "FC.Unknown": "internal error",
    "FC.InternalServerError": "internal error in Function Compute",
    "FC.ResourceThrottled": "the service was too busy (throttled), even after retries",
    "FC.ResourceExhausted": "the service ran out of resources, even after retries",
}


class CaughtError(StepModel):
    """CloudFlow's ``$Context.Current.Error``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    Code: str
    Detail: str | None = None


class FailureInput(StepModel):
    task_id: str
    video_id: str
    error: CaughtError


class FailureOutput(StepModel):
    video_id: str
    status: Literal["failed"] = "failed"


def _detail_text(detail: str | None) -> str:
    """The message inside ``detail``; Function Compute wraps it as ``{"errorMessage": ...}``."""
    text = (detail or "").strip()
    if text.startswith("{"):
        try:
            data: Any = json.loads(text)
        except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
            return text
        if isinstance(data, dict):
            for key in ("errorMessage", "message", "Detail"):
                if isinstance(data.get(key), str) and data[key].strip():
                    return str(data[key]).strip()
    return text


def friendly_message(code: str, detail: str | None = None) -> str:
    """``detail`` when it says something, else a generic message for ``code``."""
    text = _detail_text(detail)
    if text:
        return text
    if code in ENGINE_MESSAGES:
        return ENGINE_MESSAGES[code]
    cls = type(error_from_code(code, ""))
    if cls.code == code and cls.__doc__:  # a known code: its class says what it means
        return cls.__doc__.strip().splitlines()[0].rstrip(".")
    return f"failed with error {code}"


def failed_stage(ws: TaskWorkspace, video_id: str) -> tuple[str, dict[str, str] | None]:
    """The stage that failed (or was running when the step died) and the error it recorded."""
    state = load_video_progress(ws, video_id)
    stages: dict[str, str] = state.get("stages") or {}
    recorded = state.get("error")
    for wanted in ("failed", "running"):
        for stage in STAGES:
            if stages.get(stage) == wanted:
                return stage, recorded  # for a running stage: why its last attempt failed, if known
    pending = [s for s in STAGES if stages.get(s) not in ("ok", "skipped")]
    return (pending[0] if pending else STAGES[-1]), None


def run(inp: FailureInput, ctx: StepContext) -> FailureOutput:
    """Write ``failure.json`` and mark the failed stage in the video's progress."""
    ws = ctx.workspace(inp.task_id)
    load_manifest(ws).video(inp.video_id)  # a task or video that does not exist: refused, nothing written
    code = inp.error.Code
    stage, recorded = failed_stage(ws, inp.video_id)
    message = _detail_text(inp.error.Detail)
    if not message and recorded and recorded.get("code") == code:
        message = recorded.get("message", "")
    message = message or friendly_message(code)
    save_artifact(ws.make_video_dir(inp.video_id), ErrorInfo(code=code, message=message, step=stage))
    record_stage(ws, inp.video_id, stage, "failed", {"code": code, "message": message}, sink=ctx.progress)
    log.info("video.failed", code=code, stage=stage, message=message)
    return FailureOutput(video_id=inp.video_id)


handler = step("record-failure", FailureInput)(run)
