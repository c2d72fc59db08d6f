"""The gateway's work: one execution per request, started outside the webhook's 3 s.

The webhook's handlers (:meth:`Gateway.on_message`, :meth:`Gateway.on_card_action`) only claim the
event in the shared dedupe store and hand the rest to a small thread pool: reading the message,
replying with the progress card, storing the request and starting the execution named by the
message id. No global lock: per-user and total limits on running tasks answer "排队中" instead.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import flows
import steps
from steps import feishu
from steps.errors import InvalidRequest, VideoInsightError

from ._dedupe import DedupeStore
from ._inbox import Inbox
from ._parse import BadOptions, is_help, message_text, parse_text
from ._running import RunningTasks

__all__ = ["Gateway", "Incoming", "Limits", "Submit", "task_id_for"]

log = steps.get_logger(__name__)


Submit = Callable[[Mapping[str, Any]], Any]
"""Stores a validated request and starts the execution named by its task id (``submit_task``)."""


@dataclass(frozen=True)
class Limits:
    """Running tasks allowed per requester and in total for this gateway."""

    per_user: int = 3
    total: int = 20


@dataclass(frozen=True)
class Incoming:
    """The parts of an ``im.message.receive_v1`` event the gateway uses."""

    event_id: str
    message_id: str
    chat_id: str
    chat_type: str
    message_type: str
    content: str
    open_id: str
    mentioned: bool


def task_id_for(message_id: str, suffix: str = "") -> str:
    """The task id (and execution name) of a request: derived from its message id, so a redelivery
    can never start a second execution."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", message_id)
    return f"fs_{safe}"[: 120 - len(suffix)] + suffix


def _reply_card(title: str, text: str, template: str = "blue") -> dict[str, Any]:
    return feishu.message_card(title, text, template)


class Gateway:
    """Turns Feishu events into executions (see the module docstring)."""

    def __init__(
        self,
        settings: steps.Settings,
        engine: flows.ExecutionEngine,
        submit: Submit,
        *,
        progress: steps.ProgressSink | None = None,
        limits: Limits | None = None,
        workers: int = 4,
        client: feishu.FeishuClient | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self._submit = submit
        self.progress = progress
        self.limits = limits or Limits()
        self.dedupe = DedupeStore(settings.workspace / "gateway" / "dedupe")
        self.inbox = Inbox(settings.workspace / "gateway" / "inbox")
        self.running = RunningTasks(settings.workspace / "gateway" / "running")  # for the limits
        self._client = client
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gateway")
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()
        self.accepted = 0  # events handed to the workers (for tests and the bench)

    @property
    def client(self) -> feishu.FeishuClient:
        """The Feishu client (built on first use)."""
        if self._client is None:
            self._client = feishu.FeishuClient(self.settings)
        return self._client

    def close(self) -> None:
        """Finish the work in hand and stop the workers."""
        self._pool.shutdown(wait=True)

    def drain(self, timeout: float | None = None) -> None:
        """Wait until the work queued so far is done (the workers keep running)."""
        with self._lock:
            pending = set(self._pending)
        wait(pending, timeout=timeout)

    def _queue(self, fn: Callable[..., None], *args: Any) -> Future[None]:
        future = self._pool.submit(self._guarded, fn, *args)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    # -- webhook handlers: quick, never raise --------------------------------------------------------
    def on_message(self, data: Any) -> None:
        """``im.message.receive_v1``: claim it (event id, then message id) and queue it."""
        incoming = _incoming(data)
        if not self.dedupe.claim(f"event:{incoming.event_id}"):
            log.info("gateway.duplicate_event", event_id=incoming.event_id)
            return
        if not self.dedupe.claim(f"message:{incoming.message_id}"):
            log.info("gateway.duplicate_message", message_id=incoming.message_id, event_id=incoming.event_id)
            return
        self.inbox.put(incoming.message_id, dataclasses.asdict(incoming))  # kept until handled
        with self._lock:
            self.accepted += 1
        handled = self._queue(self._handle_accepted, incoming)
        if self.settings.gateway_answer_after_s > 0:  # answering may freeze this instance (FC): work first
            wait([handled], timeout=self.settings.gateway_answer_after_s)  # late: the inbox keeps it

    def _handle_accepted(self, msg: Incoming) -> None:
        self.handle_message(msg)
        self.inbox.done(msg.message_id)  # not reached if it failed: the next start tries once more

    def recover(self, older_than_s: float = 120.0) -> int:
        """Handle the messages a gateway accepted but did not live to handle; returns how many.

        Each is taken over by one instance only (a claim in the dedupe store); handling is
        idempotent (the card's uuid, the execution named by the message), so a slow instance that
        was still on it does no harm.
        """
        count = 0
        for record in self.inbox.left_behind(older_than_s):
            try:
                msg = Incoming(**record)
            except TypeError:
                continue
            if self.dedupe.claim(f"recover:{msg.message_id}"):
                log.info("gateway.recovering", message_id=msg.message_id)
                self._queue(self._handle_accepted, msg)
                count += 1
        return count

    def on_card_action(self, data: Any) -> Any:
        """``card.action.trigger``: answer with a toast at once; the work goes to the workers."""
        from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTriggerResponse

        event = data.event
        value: Mapping[str, Any] = (event.action.value if event and event.action else None) or {}
        operator = (event.operator.open_id if event and event.operator else "") or ""
        toast = self.card_action(str(value.get("action", "")), str(value.get("task_id", "")), operator)
        kind = "error" if toast.startswith("只有") or toast.startswith("找不到") else "info"
        return P2CardActionTriggerResponse({"toast": {"type": kind, "content": toast}})

    def _guarded(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # a worker: log it, the user already has or gets a card
            log.error("gateway.worker_failed", error=repr(exc), exc_info=True)

    # -- the work --------------------------------------------------------------------------------
    def handle_message(self, msg: Incoming) -> None:
        """Reply with help, a refusal, 排队中, or the progress card of a new execution."""
        if msg.chat_type == "group" and not msg.mentioned:
            return  # in a group the bot answers only when mentioned
        if msg.message_type in ("file", "media"):
            self._uploaded(msg)
            return
        text = message_text(msg.message_type, msg.content)
        if msg.message_type not in ("text", "post") or is_help(text):
            self._reply(msg, _reply_card("视频分析机器人：使用说明", feishu.HELP_TEXT))
            return
        try:
            ask = parse_text(text)
        except BadOptions as exc:
            self._reply(msg, _reply_card("选项有误", f"{exc}\n\n{feishu.HELP_TEXT}", "red"))
            return
        if not ask.links:
            self._reply(msg, _reply_card("没有找到视频链接", feishu.HELP_TEXT, "orange"))
            return
        busy = self._busy(msg.open_id)
        if busy:
            self._reply(msg, _reply_card("排队中 / busy", busy, "orange"))
            return
        task_id = task_id_for(msg.message_id)
        table = next((link for link in ask.links if steps.bitable.is_bitable_link(link)), None)
        request: dict[str, Any] = {"task_id": task_id}
        if table is not None:  # a team's video table: one video per row, the title from the table
            request["source"] = {"bitable": table}
            if ask.title:
                request["title"] = ask.title
        else:
            videos = [{"name": f"视频 {i}", "url": link} for i, link in enumerate(ask.links, 1)]
            request["title"] = ask.title or f"视频分析（{len(videos)} 条）"
            request["videos"] = videos
        if ask.options:
            request["options"] = ask.options
        self.submit(msg, request)

    def _uploaded(self, msg: Incoming) -> None:
        """An uploaded video: the Fetch step streams it through the message-resource API."""
        try:
            content = json.loads(msg.content)
            file_key = str(content["file_key"])
        except (ValueError, KeyError, TypeError):
            self._reply(msg, _reply_card("无法读取这个文件", "消息里没有文件，请重新上传。", "red"))
            return
        busy = self._busy(msg.open_id)
        if busy:
            self._reply(msg, _reply_card("排队中 / busy", busy, "orange"))
            return
        name = str(content.get("file_name") or "上传的视频")[:200]
        video = {"name": name, "feishu_file": {"message_id": msg.message_id, "file_key": file_key}}
        self.submit(msg, {"task_id": task_id_for(msg.message_id), "title": name, "videos": [video]})

    def submit(self, msg: Incoming, request: dict[str, Any], *, reply_to: str | None = None) -> None:
        """Validate ``request``, store it, reply with its card, and start its execution.

        Requests from Feishu are the requester's: they get the ``bitable`` output (a Base they own).
        """
        request = _for_requester(request, msg.open_id)
        try:
            steps.validate_request(request)
        except InvalidRequest as exc:
            self._reply(msg, _reply_card("请求无效", exc.message, "red"))
            return
        task_id = str(request["task_id"])
        ws = steps.TaskWorkspace(self.settings.workspace, task_id)
        reply_to = reply_to or msg.message_id
        if feishu.load_binding(ws) is None:  # the card first: the execution's first step reports to it
            total = len(request.get("videos") or [])  # a table's rows are counted by Prepare
            steps.record_task(ws, phase="preparing", title=request.get("title"), total=total)
            card = feishu.progress_card(steps.snapshot(ws))
            card_id = feishu.reply_message(self.client, reply_to, card, uuid=f"card-{task_id}"[:50])
            feishu.save_binding(ws, feishu.CardBinding(msg.chat_id, reply_to, msg.open_id, card_id))
        self.running.add(task_id, msg.open_id)
        try:
            self._submit(request)
        except flows.ExecutionAlreadyExists:  # the name ran before: a redelivery long after the first
            log.info("gateway.already_started", task_id=task_id)
        log.info(
            "gateway.started", task_id=task_id, videos=len(request.get("videos") or []), chat_id=msg.chat_id
        )

    def _reply(self, msg: Incoming, card: dict[str, Any]) -> None:
        try:
            feishu.reply_message(self.client, msg.message_id, card, uuid=f"reply-{msg.message_id}"[:50])
        except VideoInsightError as exc:
            log.warning("gateway.reply_failed", message_id=msg.message_id, code=exc.code, error=exc.message)

    def _busy(self, open_id: str) -> str:
        running = self.running.active(self._finished)  # every instance's tasks
        mine = sum(1 for user in running.values() if user == open_id)
        total = len(running)
        if mine >= self.limits.per_user:
            return f"你已有 {mine} 个任务在运行（上限 {self.limits.per_user} 个），请等其中一个完成后再发。"
        if total >= self.limits.total:
            return f"机器人正忙：{total} 个任务在运行（上限 {self.limits.total} 个），请稍后再发。"
        return ""

    def _finished(self, task_id: str) -> bool:
        try:
            return self.engine.describe(task_id).done
        except flows.ExecutionNotFound:
            return steps.snapshot(steps.TaskWorkspace(self.settings.workspace, task_id)).done

    # -- card buttons ------------------------------------------------------------------------------
    def card_action(self, action: str, task_id: str, operator: str) -> str:
        """Do what a button asks (or queue it); returns the toast text."""
        if not steps.valid_id(task_id):
            return "找不到这个任务"
        ws = steps.TaskWorkspace(self.settings.workspace, task_id)
        binding = feishu.load_binding(ws)
        if binding is None:
            return "找不到这个任务"
        if action == "cancel":
            if operator != binding.open_id:
                return "只有发起人可以取消这个任务"
            self._queue(self.cancel, task_id)
            return "正在取消…"
        if action == "retry_failed":
            self._queue(self.retry_failed, task_id, binding, operator)
            return "正在重试失败的视频…"
        if action == "results":
            self._queue(self.send_results, task_id, binding)
            return "正在发送结果…"
        return "不认识的操作"

    def cancel(self, task_id: str) -> None:
        """Stop the execution and show the card as cancelled."""
        try:
            self.engine.stop(task_id, error="Cancelled", cause="发起人取消了任务")
        except (flows.ExecutionNotRunning, flows.ExecutionNotFound) as exc:
            log.info("gateway.stop_skipped", task_id=task_id, reason=type(exc).__name__)
        ws = steps.TaskWorkspace(self.settings.workspace, task_id)
        if not steps.snapshot(ws).done:
            error = {"code": "Cancelled", "message": "已被发起人取消"}
            steps.record_task(ws, phase="failed", error=error, finished_at=time.time(), sink=self.progress)

    def retry_failed(self, task_id: str, binding: feishu.CardBinding, operator: str) -> None:
        """A new execution for the failed videos only, with its own card."""
        ws = steps.TaskWorkspace(self.settings.workspace, task_id)
        snap = steps.snapshot(ws)
        failed = {v.video_id for v in snap.failed}
        entries = [v for v in steps.load_manifest(ws).videos if v.video_id in failed]
        if not entries:
            return
        request = dict(steps.read_json(ws.request))
        n = 1
        while steps.TaskWorkspace(self.settings.workspace, f"{task_id}-r{n}").request.is_file():
            n += 1
        if "source" in request:  # rows of a table: retry the failed rows that have a link
            del request["source"]
            request["videos"] = [
                {"name": e.name, "url": e.url, **({"performance": e.performance} if e.performance else {})}
                for e in entries
                if e.url
            ]
        else:
            by_source = {_source_of(v): v for v in request["videos"]}
            request["videos"] = [by_source[e.source] for e in entries if e.source in by_source]
        if not request["videos"]:
            return
        request["task_id"] = f"{task_id}-r{n}"
        request["title"] = f"{snap.title or task_id}（重试 {n}）"
        msg = Incoming(
            "", binding.message_id, binding.chat_id, "p2p", "text", "", operator or binding.open_id, True
        )
        self.submit(msg, request)

    def send_results(self, task_id: str, binding: feishu.CardBinding) -> None:
        """The Excel report again, as a file in the chat."""
        ws = steps.TaskWorkspace(self.settings.workspace, task_id)
        report = ws.out / "report.xlsx"
        if not report.is_file():
            return
        key = feishu.upload_file(self.client, report, file_type="xls")
        feishu.send_message(self.client, binding.chat_id, {"file_key": key}, msg_type="file")


def _source_of(video: Mapping[str, Any]) -> str:
    """What the manifest calls a requested video's source (``VideoEntry.source``)."""
    upload = video.get("feishu_file")
    if isinstance(upload, Mapping):
        return f"feishu-file:{upload.get('message_id')}/{upload.get('file_key')}"
    return str(video.get("url") or video.get("path"))


def _for_requester(request: Mapping[str, Any], open_id: str) -> dict[str, Any]:
    """``request`` with its requester (``open_id``) and the ``bitable`` output among the outputs."""
    out = dict(request)
    if re.fullmatch(r"ou_[A-Za-z0-9_-]{1,100}", open_id):
        out.setdefault("requester", {"open_id": open_id})
    options = dict(out.get("options") or {})
    outputs = list(options.get("outputs") or steps.default_outputs())
    options["outputs"] = outputs if "bitable" in outputs else [*outputs, "bitable"]
    out["options"] = options
    return out


def _incoming(data: Any) -> Incoming:
    message = data.event.message
    sender = data.event.sender
    open_id = (sender.sender_id.open_id if sender and sender.sender_id else "") or ""
    return Incoming(
        event_id=str(data.header.event_id or ""),
        message_id=str(message.message_id or ""),
        chat_id=str(message.chat_id or ""),
        chat_type=str(message.chat_type or ""),
        message_type=str(message.message_type or ""),
        content=str(message.content or ""),
        open_id=open_id,
        mentioned=bool(message.mentions),
    )
