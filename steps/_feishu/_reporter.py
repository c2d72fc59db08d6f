"""The card reporter: every recorded progress update PATCHes the task's card, from any machine.

A task asked for in Feishu has a binding in its workspace (``feishu.json``: the chat, the user's
message, the requester, the card's message id) written by the gateway before the execution starts;
tasks without one (the CLI's) are not reported. Each step's process builds this reporter from its
settings (``REPORTERS_FROM_SETTINGS``), so the card moves on whichever machine runs the step:

- throttled across processes: one PATCH per ``min_interval_s`` per task (a lock file and the time
  of the last PATCH in the workspace); an update that falls inside the interval is covered by a
  trailing PATCH in this process, or by the next update;
- never backwards: the card is rendered under the lock from a snapshot read under the lock, and the
  progress files never move back; once a final card (finished or failed) is shown nothing replaces it;
- the final state always goes out: it waits for the lock instead of being throttled, and then a new
  message (a notification) with the summary and the Excel report as a file is sent once;
- a failure to report (network, 230020, expired token) is retried a little by the client, then
  logged: it never fails a step.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .._logging import get_logger
from .._progress import ProgressReporter, ProgressSnapshot, ProgressUpdate, snapshot
from .._settings import Settings
from .._workspace import TaskWorkspace, atomic_write_json, read_json
from ..errors import VideoInsightError
from ._card import message_card, progress_card
from ._client import FeishuClient
from ._messages import patch_card, reply_message, send_message, upload_file

__all__ = [
    "BINDING_FILE",
    "CardBinding",
    "CardReporter",
    "card_reporter",
    "final_card",
    "load_binding",
    "save_binding",
]

BINDING_FILE = "feishu.json"
_STATE_FILE = "feishu_card.json"
_LOCK_FILE = ".feishu_card.lock"
_FINAL_MARK = "feishu_final.json"
log = get_logger(__name__)


@dataclass(frozen=True)
class CardBinding:
    """Where a task's card lives: written by the gateway, read by every step's reporter."""

    chat_id: str
    message_id: str  # the user's request message (the card replies to it)
    open_id: str  # who asked: only they may cancel
    card_id: str = ""  # the card's message id

    def to_dict(self) -> dict[str, str]:
        return {
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "open_id": self.open_id,
            "card_id": self.card_id,
        }


def save_binding(ws: TaskWorkspace, binding: CardBinding) -> None:
    atomic_write_json(ws.dir / BINDING_FILE, binding.to_dict())


def load_binding(ws: TaskWorkspace) -> CardBinding | None:
    """The task's binding, or None for a task not asked for in Feishu."""
    path = ws.dir / BINDING_FILE
    if not path.is_file():
        return None
    try:
        data = read_json(path)
        return CardBinding(
            str(data["chat_id"]),
            str(data["message_id"]),
            str(data.get("open_id", "")),
            str(data.get("card_id", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def _task_lock(ws: TaskWorkspace) -> Iterator[None]:
    """One card update at a time per task, across threads and processes sharing the workspace."""
    path = ws.dir / _LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _state(ws: TaskWorkspace) -> dict[str, Any]:
    try:
        data: dict[str, Any] = read_json(ws.dir / _STATE_FILE)
        return data
    except (OSError, ValueError):
        return {}


class CardReporter:
    """A progress reporter that keeps each Feishu task's card current (see the module docstring)."""

    def __init__(
        self, settings: Settings, *, min_interval_s: float = 1.0, feishu: FeishuClient | None = None
    ) -> None:
        self.settings = settings
        self.min_interval_s = min_interval_s
        self._feishu = feishu
        self._timers: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()

    @property
    def feishu(self) -> FeishuClient:
        if self._feishu is None:
            self._feishu = FeishuClient(self.settings, timeout_s=5.0, retries=2, backoff_s=0.3)
        return self._feishu

    def __call__(self, update: ProgressUpdate) -> None:
        binding = load_binding(update.ws)
        if binding is None or not binding.card_id:
            return
        final = update.fields.get("phase") in ("finished", "failed")
        self.refresh(update.ws, binding, final=final)

    def refresh(self, ws: TaskWorkspace, binding: CardBinding, *, final: bool = False) -> None:
        """PATCH the card with the task's progress now, unless throttled (a final update never is)."""
        with _task_lock(ws):
            state = _state(ws)
            if state.get("done"):
                return  # the final card is showing: nothing may replace it
            wait = float(state.get("at", 0.0)) + self.min_interval_s - time.time()
            if wait > 0 and not final:
                self._trail(ws, binding, wait)
                return
            snap = snapshot(ws)
            if not self._patch(binding, progress_card(snap, result_url=_result_url(snap))):
                return
            atomic_write_json(
                ws.dir / _STATE_FILE, {"at": time.time(), "done": snap.done, "phase": snap.phase}
            )
        if snap.done:
            self._cancel_trail(ws.task_id)
            self.finish(ws, binding, snap)

    def _patch(self, binding: CardBinding, card: dict[str, Any]) -> bool:
        try:
            patch_card(self.feishu, binding.card_id, card)
            return True
        except VideoInsightError as exc:
            log.warning("feishu.card_patch_failed", card_id=binding.card_id, code=exc.code, error=exc.message)
            return False

    def _trail(self, ws: TaskWorkspace, binding: CardBinding, wait: float) -> None:
        with self._lock:
            if ws.task_id in self._timers:
                return
            timer = threading.Timer(wait, self._trailing, args=(ws, binding))
            timer.daemon = True
            self._timers[ws.task_id] = timer
        timer.start()

    def _trailing(self, ws: TaskWorkspace, binding: CardBinding) -> None:
        with self._lock:
            self._timers.pop(ws.task_id, None)
        try:
            self.refresh(ws, binding)
        except Exception as exc:  # a timer thread: reporting never raises
            log.warning("feishu.card_trailing_failed", task_id=ws.task_id, error=repr(exc))

    def _cancel_trail(self, task_id: str) -> None:
        with self._lock:
            timer = self._timers.pop(task_id, None)
        if timer is not None:
            timer.cancel()

    def finish(self, ws: TaskWorkspace, binding: CardBinding, snap: ProgressSnapshot) -> None:
        """Once per task: a new message with the outcome and summary, and the Excel report as a file."""
        try:
            fd = os.open(ws.dir / _FINAL_MARK, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        os.close(fd)
        try:
            report = ws.out / "report.xlsx"
            card = final_card(snap, report=report.is_file())
            reply_message(self.feishu, binding.message_id, card, uuid=f"final-{ws.task_id}"[:50])
            if report.is_file():
                key = upload_file(
                    self.feishu, report, file_type="xls", name=f"{snap.title or ws.task_id}.xlsx"
                )
                send_message(
                    self.feishu,
                    binding.chat_id,
                    {"file_key": key},
                    msg_type="file",
                    uuid=f"file-{ws.task_id}"[:50],
                )
        except VideoInsightError as exc:
            log.warning("feishu.final_message_failed", task_id=ws.task_id, code=exc.code, error=exc.message)


def final_card(snap: ProgressSnapshot, *, report: bool = False) -> dict[str, Any]:
    """The message that tells the user the task ended: counts, failures, summary, cost."""
    title = snap.title or f"视频分析 {snap.task_id}"
    if snap.phase == "failed":
        reason = (snap.error or {}).get("message") or (snap.error or {}).get("code") or "未知原因"
        return message_card(f"{title}：任务失败", f"任务没有完成：{reason}", "red")
    lines = [f"分析完成：成功 {snap.ok} 条，失败 {len(snap.failed)} 条，共 {snap.total} 条。"]
    lines += [f"- {v.name}：{v.reason}" for v in snap.failed[:5]]
    if snap.summary:
        lines += ["", "**批次总结**", *snap.summary]
    if snap.ai_cost:
        lines += ["", snap.ai_cost]
    url = _result_url(snap)
    if url:
        lines += ["", f"结果已写入多维表格：[打开多维表格]({url})"]
    for name, error in snap.output_errors.items():
        what = "多维表格" if name == "bitable" else name
        lines += ["", f"{what}没有生成：{error.get('message') or error.get('code')}"]
    if report:
        lines += ["", "Excel 报告见下一条消息。"]
    return message_card(f"{title}：已完成", "\n".join(lines), "green" if not snap.failed else "orange")


def _result_url(snap: ProgressSnapshot) -> str | None:
    for value in snap.outputs.values():
        if value.startswith("https://"):
            return value
    return None


def card_reporter(settings: Settings) -> ProgressReporter | None:
    """The reporter for ``REPORTERS_FROM_SETTINGS``: present when the Feishu app is configured."""
    if not settings.feishu_configured:
        return None
    return CardReporter(settings)
