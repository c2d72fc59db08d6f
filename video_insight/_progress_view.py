"""Live progress of a task on the terminal, read from the same state that drives the Feishu card.

Reading and rendering are separate: :func:`snapshot` reads the task's progress files into a
:class:`ProgressSnapshot`; :func:`render_rich` and :func:`render_line` turn a snapshot into a rich
renderable or one plain line. :class:`ProgressView` polls in a background thread and shows a live
display on a terminal, or prints a line whenever something changed when stdout is not a TTY.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from steps import (
    STAGES,
    TaskWorkspace,
    VideoInsightError,
    get_logger,
    load_manifest,
    load_progress,
    summarize,
)

__all__ = [
    "ProgressSnapshot",
    "ProgressView",
    "VideoState",
    "format_elapsed",
    "render_line",
    "render_rich",
    "snapshot",
]

# (stage key, label on the terminal, word in plain lines)
STAGE_LABELS = {
    "fetch": ("下载 Download", "download"),
    "media": ("音频 Audio", "audio"),
    "transcribe": ("转写 Transcripts", "transcripts"),
    "shots": ("截图 Shots", "shots"),
    "analyze": ("分析 Analysis", "analysis"),
}
WRITTEN_LABEL = ("写入 Written", "written")
PHASE_LABELS = {
    "preparing": "准备中 preparing",
    "processing": "处理中 processing",
    "publishing": "生成报告 publishing",
    "published": "已生成 published",
    "finished": "完成 finished",
    "failed": "失败 failed",
}
MAX_ROWS = 8  # running / failed videos listed on the live display
log = get_logger(__name__)


@dataclass(frozen=True)
class VideoState:
    """One video as the display sees it."""

    video_id: str
    name: str
    status: str  # pending | running | ok | failed
    current: str | None = None  # the stage running now
    error: Mapping[str, str] | None = None  # {code, message, stage} when failed
    stages: Mapping[str, str] = field(default_factory=dict)

    def settled(self, stage: str) -> bool:
        """Whether ``stage`` is over for this video: it ended, or the video failed before it."""
        if self.stages.get(stage) in ("ok", "skipped", "failed"):
            return True
        return self.status == "failed"

    @property
    def reason(self) -> str:
        """``code: message`` of a failed video, or an empty string."""
        if not self.error:
            return ""
        code, message = self.error.get("code", ""), self.error.get("message", "")
        return f"{code}: {message}" if code and message else code or message


@dataclass(frozen=True)
class ProgressSnapshot:
    """Everything the displays show, read at one moment."""

    task_id: str
    title: str | None
    phase: str
    total: int
    elapsed_s: float | None
    counts: Mapping[str, Mapping[str, int]]
    written: int
    videos: tuple[VideoState, ...] = field(default_factory=tuple)
    error: Mapping[str, str] | None = None

    @property
    def running(self) -> list[VideoState]:
        return [v for v in self.videos if v.status == "running"]

    @property
    def failed(self) -> list[VideoState]:
        return [v for v in self.videos if v.status == "failed"]

    @property
    def done(self) -> bool:
        return self.phase in ("finished", "failed")


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


def _names(ws: TaskWorkspace) -> dict[str, str]:
    try:
        return {v.video_id: v.name for v in load_manifest(ws).videos}
    except (OSError, ValueError, VideoInsightError):  # not written yet (Prepare runs), or mid-write
        return {}


def _written(task: Mapping[str, Any], total: int) -> int:
    value = task.get("written")
    if isinstance(value, int):
        return value
    return total if task.get("phase") in ("published", "finished") else 0


def snapshot(
    ws: TaskWorkspace,
    *,
    names: Mapping[str, str] | None = None,
    started_at: float | None = None,
    now: float | None = None,
) -> ProgressSnapshot:
    """Read the task's progress now. ``names`` (video id → name) defaults to the manifest's."""
    task, raw_videos = load_progress(ws)
    names = _names(ws) if names is None else names
    videos = tuple(_video_state(v, names) for v in raw_videos)
    total = int(task.get("total") or len(videos))
    if started_at is None:
        started_at = task.get("started_at")
    elapsed = None if started_at is None else max(0.0, (time.time() if now is None else now) - started_at)
    return ProgressSnapshot(
        task_id=ws.task_id,
        title=task.get("title"),
        phase=str(task.get("phase") or "preparing"),
        total=total,
        elapsed_s=elapsed,
        counts=summarize(raw_videos),
        written=_written(task, total),
        videos=videos,
        error=task.get("error"),
    )


def format_elapsed(seconds: float | None) -> str:
    """``mm:ss`` (``h:mm:ss`` from one hour), or ``--:--`` when unknown."""
    if seconds is None:
        return "--:--"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60:02d}:{s % 60:02d}"


def _summary(snap: ProgressSnapshot) -> str:
    parts = []
    for stage in STAGES:
        c = snap.counts[stage]
        text = f"{STAGE_LABELS[stage][1]} {c['ok'] + c['skipped']}/{snap.total}"
        if c["failed"]:
            text += f" ({c['failed']} failed)"
        parts.append(text)
    parts.append(f"{WRITTEN_LABEL[1]} {snap.written}/{snap.total}")
    return " | ".join(parts) + f" · {snap.phase}"


def render_line(snap: ProgressSnapshot) -> str:
    """One plain line: ``[mm:ss] download 3/4 (1 failed) | audio 2/4 | ... · processing``."""
    return f"[{format_elapsed(snap.elapsed_s)}] {_summary(snap)}"


def _stage_table(snap: ProgressSnapshot) -> Table:
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    table.add_column("阶段 Stage")
    table.add_column("", min_width=20)
    table.add_column("完成 Done", justify="right")
    table.add_column("失败 Failed", justify="right")
    table.add_column("进行中 Running", justify="right")
    total = max(snap.total, 1)
    for stage in STAGES:
        c = snap.counts[stage]
        done = c["ok"] + c["skipped"]
        failed = Text(str(c["failed"]), style="red" if c["failed"] else "dim")
        settled = sum(v.settled(stage) for v in snap.videos)
        bar = ProgressBar(total=total, completed=settled, width=20)
        table.add_row(STAGE_LABELS[stage][0], bar, f"{done}/{snap.total}", failed, str(c["running"]))
    bar = ProgressBar(total=total, completed=snap.written, width=20)
    table.add_row(WRITTEN_LABEL[0], bar, f"{snap.written}/{snap.total}", "", "")
    return table


def _video_table(rows: list[VideoState], failed: bool) -> Table:
    table = Table(box=None, pad_edge=False, show_header=False, expand=True)
    table.add_column("video", overflow="fold", ratio=1)
    table.add_column("detail", overflow="fold", ratio=2)
    for video in rows[:MAX_ROWS]:
        if failed:
            stage = (video.error or {}).get("stage", "")
            where = f"[{STAGE_LABELS.get(stage, (stage,))[0]}] " if stage else ""
            table.add_row(video.name, Text(where + video.reason, style="red"))
        elif video.current:
            label = STAGE_LABELS.get(video.current, (video.current,))[0]
            table.add_row(video.name, Text(label, style="cyan"))
        else:
            table.add_row(video.name, Text("等待 waiting", style="dim"))
    if len(rows) > MAX_ROWS:
        table.add_row(Text(f"… and {len(rows) - MAX_ROWS} more", style="dim"), "")
    return table


def render_rich(snap: ProgressSnapshot) -> RenderableType:
    """The live display: header, per-stage counters, running videos and failures."""
    title = snap.title or snap.task_id
    header = Text.assemble(
        (title, "bold"),
        "  ",
        (PHASE_LABELS.get(snap.phase, snap.phase), "green" if snap.phase == "finished" else "yellow"),
        f"  ⏱ {format_elapsed(snap.elapsed_s)}",
        f"  完成 ok {sum(v.status == 'ok' for v in snap.videos)}",
        (f" · 失败 failed {len(snap.failed)}", "red" if snap.failed else ""),
        f" · 共 total {snap.total}",
    )
    parts: list[RenderableType] = [header, _stage_table(snap)]
    if snap.running:
        parts += [Text("进行中 Running", style="bold"), _video_table(snap.running, failed=False)]
    if snap.failed:
        parts += [Text("失败 Failed", style="bold red"), _video_table(snap.failed, failed=True)]
    if snap.error:
        message = snap.error.get("message") or snap.error.get("Detail") or ""
        code = snap.error.get("code") or snap.error.get("Code") or ""
        parts.append(Text(f"任务失败 Task failed: {code} {message}".rstrip(), style="bold red"))
    return Group(*parts)


class ProgressView:
    """Show a task's progress while it runs: ``with ProgressView(ws): engine.run(...)``.

    On a terminal the display is live (rich); otherwise a plain line is printed whenever the
    counters change, plus one line per video when it finishes or fails.
    """

    def __init__(self, ws: TaskWorkspace, *, console: Console | None = None, interval: float = 0.2):
        self.ws = ws
        self.console = console or Console()
        self.interval = interval
        self.started_at = time.time()
        self._names: dict[str, str] = {}
        self._last_line = ""
        self._reported: set[str] = set()
        self._live: Any = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ProgressView:
        if self.console.is_terminal:
            from rich.live import Live

            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.start()
        self._thread = threading.Thread(target=self._loop, name="progress-view", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.refresh()
        if self._live is not None:
            self._live.stop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                self.refresh()
            except Exception as exc:  # the display must never break the run it shows
                log.warning("progress_view.refresh_failed", error=repr(exc))
            spent = time.perf_counter() - started
            # A large task takes longer to read: never spend more than ~1/5 of the time polling.
            self._stop.wait(max(self.interval, 5 * spent))

    def refresh(self) -> ProgressSnapshot:
        """Read the progress once and update the display; returns what was shown."""
        with self._lock:
            if not self._names:
                self._names = _names(self.ws)
            snap = snapshot(self.ws, names=self._names, started_at=self.started_at)
            if self._live is not None:
                self._live.update(render_rich(snap), refresh=True)
            else:
                self._print_changes(snap)
            return snap

    def _print_changes(self, snap: ProgressSnapshot) -> None:
        stamp = f"[{format_elapsed(snap.elapsed_s)}]"
        for video in snap.videos:
            if video.status in ("ok", "failed") and video.video_id not in self._reported:
                self._reported.add(video.video_id)
                if video.status == "ok":
                    text = f"{stamp} done: {video.name}"
                else:
                    stage = (video.error or {}).get("stage", "?")
                    text = f"{stamp} failed: {video.name} at {stage}: {video.reason}"
                self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        summary = _summary(snap)
        if summary != self._last_line:
            self._last_line = summary
            self.console.print(f"{stamp} {summary}", markup=False, highlight=False, soft_wrap=True)
