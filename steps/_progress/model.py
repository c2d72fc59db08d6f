"""The one model of a task's progress: a :class:`ProgressSnapshot` read from the progress files.

Renderers (the terminal display, the Feishu card) turn a snapshot into what they show; they never
read the files themselves. A snapshot read later never shows less progress than one read earlier
(stage files never move back), and ``updated_at`` orders two snapshots of the same task.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._manifest import load_manifest
from .._workspace import TaskWorkspace
from ..errors import VideoInsightError
from .labels import failure_text
from .record import STAGES, StageCounts, load_progress, summarize

__all__ = ["DONE_PHASES", "ProgressSnapshot", "VideoState", "snapshot", "video_names"]

DONE_PHASES = ("finished", "failed")


@dataclass(frozen=True)
class VideoState:
    """One video's progress."""

    video_id: str
    name: str
    status: str  # pending | running | ok | failed
    current: str | None = None  # the stage running now
    error: Mapping[str, str] | None = None  # {code, message, stage} when failed
    stages: Mapping[str, str] = field(default_factory=dict)  # stage → status, stages seen so far

    def settled(self, stage: str) -> bool:
        """Whether ``stage`` is over for this video: it ended, or the video failed before it."""
        if self.stages.get(stage) in ("ok", "skipped", "failed"):
            return True
        return self.status == "failed"

    @property
    def reason(self) -> str:
        """Why a failed video failed, Chinese first (:func:`failure_text`), or an empty string."""
        if not self.error:
            return ""
        return failure_text(self.error.get("code"), self.error.get("message"))

    @property
    def failed_stage(self) -> str | None:
        """The stage the video failed at, when it failed and the stage is known."""
        return (self.error or {}).get("stage") or None


@dataclass(frozen=True)
class ProgressSnapshot:
    """A task's progress read at one moment (``read_at``): what every progress renderer shows."""

    task_id: str
    title: str | None
    phase: str  # preparing | processing | publishing | published | finished | failed
    total: int  # videos to process (duplicates excluded)
    counts: Mapping[str, StageCounts]  # stage → counts, for every stage in STAGES
    written: int  # rows in the outputs
    videos: tuple[VideoState, ...] = ()
    error: Mapping[str, str] | None = None  # why the whole task failed
    outputs: Mapping[str, str] = field(default_factory=dict)  # output → file name in out/, or a link
    output_errors: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # output → {code, message}
    ai_cost: str | None = (
        None  # what the model calls cost, as text (``AI 费用约 ¥0.0123（…）``), once published
    )
    summary: tuple[str, ...] = ()  # the batch summary in a few lines (headline, best/worst, suggestions)
    duplicates: int = 0
    started_at: float | None = None  # time.time() values
    finished_at: float | None = None
    read_at: float = 0.0
    updated_at: float = 0.0  # the latest change recorded in any progress file of the task

    @property
    def done(self) -> bool:
        """The task ended (finished or failed): nothing will change any more."""
        return self.phase in DONE_PHASES

    @property
    def elapsed_s(self) -> float | None:
        """Seconds from the start to the end of the task, or to ``read_at`` while it runs."""
        if self.started_at is None:
            return None
        end = self.finished_at if self.done and self.finished_at is not None else self.read_at
        return max(0.0, end - self.started_at)

    @property
    def running(self) -> list[VideoState]:
        return [v for v in self.videos if v.status == "running"]

    @property
    def failed(self) -> list[VideoState]:
        return [v for v in self.videos if v.status == "failed"]

    @property
    def ok(self) -> int:
        """Videos analysed to the end."""
        return sum(v.status == "ok" for v in self.videos)

    def at(self, now: float) -> ProgressSnapshot:
        """The same snapshot with its clock moved to ``now`` (for a display that ticks)."""
        return dataclasses.replace(self, read_at=now)


def _video_state(raw: Mapping[str, Any], names: Mapping[str, str]) -> VideoState:
    video_id = str(raw.get("video_id", "?"))
    stages: Mapping[str, str] = raw.get("stages") or {}
    if "failed" in stages.values():
        status = "failed"
    elif stages.get("analyze") in ("ok", "skipped"):
        status = "ok"
    elif raw.get("current") or "running" in stages.values() or any(s == "ok" for s in stages.values()):
        status = "running"
    else:
        status = "pending"
    current = None
    if status == "running":  # Transcribe and Shots run at once: "current" names the latest only
        running = [s for s in STAGES if stages.get(s) == "running"]
        current = raw.get("current") if raw.get("current") in running else None
        current = current or (running[0] if running else None)
    error = raw.get("error") if status == "failed" else None
    return VideoState(video_id, names.get(video_id, video_id), status, current, error, dict(stages))


def video_names(ws: TaskWorkspace) -> dict[str, str]:
    """Video id → name from the task's manifest; empty until Prepare has written it."""
    try:
        return {v.video_id: v.name for v in load_manifest(ws).videos}
    except (OSError, ValueError, VideoInsightError):  # not written yet (Prepare runs), or mid-write
        return {}


def _written(task: Mapping[str, Any], total: int) -> int:
    value = task.get("written")
    if isinstance(value, int):
        return value
    return total if task.get("phase") in ("published", "finished") else 0


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def snapshot(
    ws: TaskWorkspace,
    *,
    names: Mapping[str, str] | None = None,
    started_at: float | None = None,
    now: float | None = None,
) -> ProgressSnapshot:
    """Read the task's progress now.

    Args:
        ws: the task's workspace.
        names: video id → name; the manifest's by default (pass them to skip reading it again).
        started_at: when the elapsed time starts; the task's first record by default.
        now: the reading time (``time.time()`` by default).
    """
    task, raw_videos = load_progress(ws)
    names = video_names(ws) if names is None else names
    videos = tuple(_video_state(v, names) for v in raw_videos)
    total = int(task.get("total") or len(videos))
    updated = [_float(task.get("updated_at")) or 0.0, *(float(v.get("updated_at", 0.0)) for v in raw_videos)]
    return ProgressSnapshot(
        task_id=ws.task_id,
        title=task.get("title"),
        phase=str(task.get("phase") or "preparing"),
        total=total,
        counts=summarize(raw_videos),
        written=_written(task, total),
        videos=videos,
        error=task.get("error"),
        outputs=dict(task.get("outputs") or {}),
        output_errors=dict(task.get("output_errors") or {}),
        ai_cost=task.get("ai_cost") if isinstance(task.get("ai_cost"), str) else None,
        summary=tuple(str(line) for line in task.get("summary") or ()),
        duplicates=int(task.get("duplicates") or 0),
        started_at=started_at if started_at is not None else _float(task.get("started_at")),
        finished_at=_float(task.get("finished_at")),
        read_at=time.time() if now is None else now,
        updated_at=max(updated),
    )
