"""Live progress of a task on the terminal: one renderer of the progress model in ``steps``.

:func:`render_rich` and :func:`render_line` turn a :class:`steps.ProgressSnapshot` into a rich
renderable or one plain line. :class:`ProgressView` is a progress reporter: registered on the
engine's sink, it is told of every recorded update and redraws from a fresh snapshot in its own
thread (a live display on a terminal, otherwise a line whenever something changed).
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from steps import (
    STAGES,
    WRITTEN_LABEL,
    ProgressSnapshot,
    ProgressUpdate,
    TaskWorkspace,
    VideoState,
    get_logger,
    phase_label,
    printable,
    snapshot,
    stage_label,
    video_names,
)

__all__ = ["ProgressView", "format_elapsed", "render_line", "render_rich"]

MAX_ROWS = 8  # running / failed videos listed on the live display
TICK_S = 1.0  # the live display's clock advances this often while nothing is recorded
log = get_logger(__name__)


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
        text = f"{stage_label(stage).word} {c.done}/{snap.total}"
        if c.failed:
            text += f" ({c.failed} failed)"
        parts.append(text)
    parts.append(f"{WRITTEN_LABEL.word} {snap.written}/{snap.total}")
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
        failed = Text(str(c.failed), style="red" if c.failed else "dim")
        settled = sum(v.settled(stage) for v in snap.videos)
        bar = ProgressBar(total=total, completed=settled, width=20)
        table.add_row(str(stage_label(stage)), bar, f"{c.done}/{snap.total}", failed, str(c.running))
    bar = ProgressBar(total=total, completed=snap.written, width=20)
    table.add_row(str(WRITTEN_LABEL), bar, f"{snap.written}/{snap.total}", "", "")
    return table


def _plain(text: str | None, style: str = "") -> Text:
    """User text (a name, a reason) as it is: control characters escaped, no rich markup."""
    return Text(printable(text or ""), style=style)


def _video_table(rows: list[VideoState], failed: bool) -> Table:
    table = Table(box=None, pad_edge=False, show_header=False, expand=True)
    table.add_column("video", overflow="fold", ratio=1)
    table.add_column("detail", overflow="fold", ratio=2)
    for video in rows[:MAX_ROWS]:
        if failed:
            where = f"[{stage_label(video.failed_stage)}] " if video.failed_stage else ""
            table.add_row(_plain(video.name), _plain(where + video.reason, style="red"))
        elif video.current:
            table.add_row(_plain(video.name), Text(str(stage_label(video.current)), style="cyan"))
        else:
            table.add_row(_plain(video.name), Text("等待 waiting", style="dim"))
    if len(rows) > MAX_ROWS:
        table.add_row(Text(f"… and {len(rows) - MAX_ROWS} more", style="dim"), "")
    return table


def render_rich(snap: ProgressSnapshot) -> RenderableType:
    """The live display: header, per-stage counters, running videos and failures."""
    header = Text.assemble(
        (printable(snap.title or snap.task_id), "bold"),
        "  ",
        (str(phase_label(snap.phase)), "green" if snap.phase == "finished" else "yellow"),
        f"  ⏱ {format_elapsed(snap.elapsed_s)}",
        f"  完成 ok {snap.ok}",
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
        parts.append(_plain(f"任务失败 Task failed: {code} {message}".rstrip(), style="bold red"))
    return Group(*parts)


class ProgressView:
    """Show a task's progress while it runs; a progress reporter for the engine's sink::

        view = ProgressView(ws)
        with sink.registered(view.report), view:
            execution.wait()

    Each update of this task wakes the view's thread, which reads a fresh snapshot (at most once
    per ``interval``) and redraws. On a terminal the display is live (rich) and its clock ticks;
    otherwise a plain line is printed whenever the counters change, plus one line per video when it
    finishes or fails. Leaving the block draws the final state once more.
    """

    def __init__(self, ws: TaskWorkspace, *, console: Console | None = None, interval: float = 0.2):
        self.ws = ws
        self.console = console or Console()
        self.interval = interval
        self.started_at = time.time()
        self._names: dict[str, str] = {}
        self._last_line = ""
        self._last: ProgressSnapshot | None = None
        self._reported: set[str] = set()
        self._live: Any = None
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ProgressView:
        if self.console.is_terminal:
            from rich.live import Live

            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.start()
        self._changed.set()  # draw what is recorded already
        self._thread = threading.Thread(target=self._loop, name="progress-view", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._changed.set()  # wake the thread so it sees the stop
        if self._thread is not None:
            self._thread.join()
        self.refresh()
        if self._live is not None:
            self._live.stop()

    def report(self, update: ProgressUpdate) -> None:
        """The reporter: note that this task changed (the view's thread redraws). Never blocks."""
        if update.task_id == self.ws.task_id:
            self._changed.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            changed = self._changed.wait(TICK_S if self._live is not None else None)
            if self._stop.is_set():
                return
            if not changed:
                self._guarded(self._tick)
                continue
            self._changed.clear()
            started = time.perf_counter()
            self._guarded(self.refresh)
            # A large task takes longer to read: never spend more than ~1/5 of the time reading.
            self._stop.wait(max(self.interval, 5 * (time.perf_counter() - started)))

    @staticmethod
    def _guarded(draw: Any) -> None:
        try:
            draw()
        except Exception as exc:  # the display must never break the run it shows
            log.warning("progress_view.refresh_failed", error=repr(exc))

    def _tick(self) -> None:
        """Advance the live display's clock without reading the files again."""
        with self._lock:
            if self._live is not None and self._last is not None and not self._last.done:
                self._live.update(render_rich(self._last.at(time.time())), refresh=True)

    def refresh(self) -> ProgressSnapshot:
        """Read the progress once and update the display; returns what was shown."""
        with self._lock:
            if not self._names:
                self._names = video_names(self.ws)
            snap = snapshot(self.ws, names=self._names, started_at=self.started_at)
            self._last = snap
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
                    text = f"{stamp} failed: {video.name} at {video.failed_stage or '?'}: {video.reason}"
                self.console.print(printable(text), markup=False, highlight=False, soft_wrap=True)
        summary = _summary(snap)
        if summary != self._last_line:
            self._last_line = summary
            self.console.print(printable(f"{stamp} {summary}"), markup=False, highlight=False, soft_wrap=True)
