"""The progress card: a Feishu card (JSON 2.0, ``update_multi``) rendered from a :class:`ProgressSnapshot`.

One renderer of the one progress model (the terminal display is the other). The card shows the
task's title and phase, per-stage counts out of the total, the elapsed time, the failed videos with
their reasons (the first few, then "+N"), and once the task ends the batch summary and the AI cost.
Its buttons carry ``{"action": …, "task_id": …}`` back to the gateway as card callbacks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .._progress import STAGE_LABELS, STAGES, WRITTEN_LABEL, ProgressSnapshot, phase_label
from ._messages import MAX_CARD_BYTES

__all__ = ["HELP_TEXT", "SHOWN_FAILURES", "message_card", "progress_card"]

SHOWN_FAILURES = 5
_TEMPLATES = {"finished": "green", "failed": "red", "preparing": "blue"}
HELP_TEXT = (
    "把视频链接发给我（可以一次发多条，抖音、快手、B 站、小红书的分享文字直接粘贴即可），"
    "或者直接上传视频文件，我会逐条分析：下载 → 音频 → 转写 → 分镜截图 → 画面文字 → 分析，"
    "最后把结果写进一个归你所有的多维表格，并发给你 Excel 报告。\n\n"
    "也可以发一张多维表格的链接（一行一条素材：素材名称、视频链接或视频附件，展现、点击、消耗、激活人数），"
    "我会分析表里的每一行；请先在表格右上角「…」→「更多」→「添加文档应用」里添加我。\n\n"
    "**选项**（写在链接后面，空格分隔）：\n"
    "- `asr=none` 不转写语音；`asr=whisper` / `asr=funasr` 指定引擎\n"
    "- `lang=zh` / `lang=en` 指定语言\n"
    "- `shots=content` / `shots=hybrid` / `shots=transnet` 分镜方法\n"
    "- `ocr=off` 不读画面文字；`ocr=keyframes` 只读关键帧上的文字（不读烧录字幕）\n"
    "- `title=双十二素材` 任务标题\n\n"
    "群聊里请先 @我。发送“帮助”或 help 查看本说明。"
)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    total = round(seconds)
    minutes, secs = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} 小时 {minutes} 分"
    return f"{minutes} 分 {secs} 秒" if minutes else f"{secs} 秒"


def _markdown(text: str) -> dict[str, Any]:
    return {"tag": "markdown", "content": text}


def _button(
    text: str, kind: str, value: Mapping[str, Any] | None = None, url: str | None = None
) -> dict[str, Any]:
    behavior: dict[str, Any] = (
        {"type": "open_url", "default_url": url} if url else {"type": "callback", "value": dict(value or {})}
    )
    return {
        "tag": "button",
        "text": {"tag": "plain_text", "content": text},
        "type": kind,
        "behaviors": [behavior],
    }


def message_card(title: str, text: str, template: str = "blue") -> dict[str, Any]:
    """A plain card: a header and one block of markdown (help, refusals, 排队中)."""
    return {
        "schema": "2.0",
        "config": {"update_multi": True},
        "header": {"title": {"tag": "plain_text", "content": title}, "template": template},
        "body": {"elements": [_markdown(text)]},
    }


def _stage_lines(snap: ProgressSnapshot) -> list[str]:
    lines = []
    for stage in STAGES:
        counts = snap.counts[stage]
        done = counts.done
        mark = (
            "✅" if snap.total and done + counts.failed >= snap.total else ("⏳" if counts.running else "·")
        )
        extra = f"（失败 {counts.failed}）" if counts.failed else ""
        lines.append(f"{mark} {STAGE_LABELS[stage].zh} {done}/{snap.total}{extra}")
    mark = "✅" if snap.phase in ("published", "finished") else "·"
    lines.append(f"{mark} {WRITTEN_LABEL.zh} {snap.written}/{snap.total}")
    return lines


def _failure_lines(snap: ProgressSnapshot, shown: int) -> list[str]:
    failed = snap.failed
    lines = [f"- {v.name}：{v.reason[:200]}" for v in failed[:shown]]
    if len(failed) > shown:
        lines.append(f"+{len(failed) - shown}")
    return lines


def _buttons(snap: ProgressSnapshot, result_url: str | None) -> list[dict[str, Any]]:
    value = {"task_id": snap.task_id}
    if not snap.done:
        return [_button("取消", "danger", {**value, "action": "cancel"})]
    buttons = []
    if snap.failed:
        buttons.append(_button("重试失败的视频", "primary", {**value, "action": "retry_failed"}))
    if result_url:
        buttons.append(_button("查看结果", "default", url=result_url))
    elif snap.outputs:
        buttons.append(_button("查看结果", "default", {**value, "action": "results"}))
    return buttons


def _elements(
    snap: ProgressSnapshot, shown: int, summary: Sequence[str], result_url: str | None
) -> list[Any]:
    status = phase_label(snap.phase).zh
    if snap.phase == "failed" and snap.error:
        status += f"：{snap.error.get('message') or snap.error.get('code')}"
    head = f"**状态**：{status}　**用时**：{_duration(snap.elapsed_s)}　**视频**：{snap.total} 条"
    if snap.duplicates:
        head += f"（另有重复 {snap.duplicates} 条）"
    elements: list[Any] = [_markdown(head), _markdown("\n".join(_stage_lines(snap)))]
    failures = _failure_lines(snap, shown)
    if failures:
        elements.append(_markdown(f"**失败的视频（{len(snap.failed)}）**\n" + "\n".join(failures)))
    if snap.done and summary:
        elements.append(_markdown("**批次总结**\n" + "\n".join(summary)))
    if snap.done and snap.ai_cost:
        elements.append(_markdown(snap.ai_cost))
    elements.extend(_buttons(snap, result_url))
    return elements


def progress_card(snap: ProgressSnapshot, *, result_url: str | None = None) -> dict[str, Any]:
    """The card for ``snap``; kept under Feishu's 30 KB by showing fewer details when needed."""
    title = snap.title or f"视频分析 {snap.task_id}"
    template = _TEMPLATES.get(snap.phase, "orange" if snap.failed else "blue")
    card: dict[str, Any] = {}
    lines = [line if len(line) <= 300 else line[:299] + "…" for line in snap.summary[:10]]
    for shown, summary in ((SHOWN_FAILURES, lines), (3, lines[:3]), (1, [])):
        card = {
            "schema": "2.0",
            "config": {
                "update_multi": True,
                "summary": {"content": f"{title}：{phase_label(snap.phase).zh}"},
            },
            "header": {
                "title": {"tag": "plain_text", "content": title[:100]},
                "subtitle": {"tag": "plain_text", "content": f"任务 {snap.task_id}"},
                "template": template,
            },
            "body": {"elements": _elements(snap, shown, summary, result_url)},
        }
        if len(json.dumps(card, ensure_ascii=False).encode("utf-8")) <= MAX_CARD_BYTES - 1024:
            break
    return card
