"""The request about one video: its facts as text (metrics, ad numbers, timed transcript, on-screen
text) and its pictures (the contact sheet and a few keyframes, downscaled, as JPEG data URLs)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .._artifacts import Metrics, Segment, Shot
from .._logging import get_logger
from .fields import FieldSpec
from .llm import Message
from .prompts import Prompt, fields_block, json_example

__all__ = [
    "CONTACT_SHEET_PX",
    "KEYFRAME_PX",
    "MAX_TRANSCRIPT_CHARS",
    "ScreenText",
    "VideoFacts",
    "facts_text",
    "image_data_url",
    "pick_keyframes",
    "video_messages",
]

CONTACT_SHEET_PX = 1024  # the long side of the contact sheet as sent
KEYFRAME_PX = 512  # the long side of each keyframe as sent
MAX_TRANSCRIPT_CHARS = 3000  # the timed transcript is cut here (a 60 s ad says ~300 characters)
_PERFORMANCE = ("impressions", "clicks", "spend", "conversions", "ctr", "cvr", "cpc", "cpa")
log = get_logger(__name__)


@dataclass(frozen=True)
class ScreenText:
    """A line of text seen on the pictures (the OCR step's output), where it first appeared."""

    time_s: float
    text: str


@dataclass(frozen=True)
class VideoFacts:
    """What the prompt says about one video in words."""

    name: str
    metrics: Metrics
    width: int | None = None
    height: int | None = None
    segments: Sequence[Segment] = ()
    has_audio: bool | None = None
    empty_reason: str | None = None  # why the transcript is empty: no_speech | unsupported_language
    screen_text: Sequence[ScreenText] = ()  # empty until the OCR step has run


def image_data_url(path: Path, max_side: int) -> str | None:
    """``path`` as a JPEG ``data:`` URL no larger than ``max_side``; None when it cannot be read."""
    try:
        with Image.open(path) as img:
            picture = img.convert("RGB")
            picture.thumbnail((max_side, max_side))
    except (OSError, ValueError, UnidentifiedImageError) as exc:
        log.warning("ai.image_unreadable", path=path.name, error=str(exc))
        return None
    buf = io.BytesIO()
    picture.save(buf, "JPEG", quality=80, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def pick_keyframes(keyframes: Sequence[tuple[Shot, Path]], count: int) -> list[tuple[Shot, Path]]:
    """``count`` keyframes spread over the video, the first shot (the hook) and the last included."""
    if count <= 0 or not keyframes:
        return []
    if len(keyframes) <= count:
        return list(keyframes)
    if count == 1:
        return [keyframes[0]]
    picks = dict.fromkeys(round(i * (len(keyframes) - 1) / (count - 1)) for i in range(count))
    return [keyframes[i] for i in picks]


def _metric_lines(m: Metrics) -> list[str]:
    from .._outputs._format import METRIC_LABELS, fmt_metric  # the reports' labels and formats

    def shown(keys: Sequence[str]) -> str:
        return "；".join(f"{METRIC_LABELS[k]} {fmt_metric(k, m)}" for k in keys if getattr(m, k) is not None)

    told_apart = ("duration_s", "hook_text", "hook_overlay_text")  # lines of their own
    pace = [k for k in METRIC_LABELS if k not in _PERFORMANCE and k not in told_apart]
    return [
        f"节奏与口播：{shown(pace) or '无'}",
        f"投放数据：{shown(_PERFORMANCE) or '无（这条视频没有投放数据）'}",
    ]


def _transcript(facts: VideoFacts) -> str:
    from .._outputs._format import fmt_time

    if not facts.segments:
        if facts.has_audio is False:
            return "（没有音轨）"
        if facts.empty_reason == "unsupported_language":
            return "（有人声，但这种语言无法转写）"
        return "（没有人声）" if facts.empty_reason == "no_speech" else "（没有识别到口播）"
    lines, used = [], 0
    for seg in facts.segments:
        line = f"[{fmt_time(seg.start_s)}–{fmt_time(seg.end_s)}] {seg.text.strip()}"
        if used + len(line) > MAX_TRANSCRIPT_CHARS:
            lines.append("……（后面的文案略）")
            break
        lines.append(line)
        used += len(line)
    return "\n".join(lines)


def facts_text(facts: VideoFacts) -> str:
    """The video's facts as the prompt's ``$facts`` block."""
    from .._outputs._format import fmt_time

    head = [f"名称：{facts.name}"]
    if facts.metrics.duration_s is not None:
        head.append(f"时长：{fmt_time(facts.metrics.duration_s)}")
    if facts.width and facts.height:
        head.append(
            f"画面：{facts.width}×{facts.height}（{'竖屏' if facts.height > facts.width else '横屏'}）"
        )
    parts = ["；".join(head), *_metric_lines(facts.metrics)]
    parts.append(f"开头 3 秒口播：{facts.metrics.hook_text or '无'}")
    if facts.metrics.hook_overlay_text:
        parts.append(f"开头 3 秒花字：{facts.metrics.hook_overlay_text}")
    parts.append("口播文案（带时间）：\n" + _transcript(facts))
    if facts.screen_text:
        screen = "\n".join(f"[{fmt_time(t.time_s)}] {t.text}" for t in facts.screen_text)
        parts.append("画面文字（花字、字幕，按首次出现的时间）：\n" + screen)
    return "\n".join(parts)


def video_messages(
    prompt: Prompt,
    fields: Sequence[FieldSpec],
    facts: VideoFacts,
    contact_sheet: Path | None,
    keyframes: Sequence[tuple[Shot, Path]],
) -> list[Message]:
    """The request about one video: the prompt's text, then each picture after a line naming it."""
    from .._outputs._format import fmt_time

    text = prompt.text(
        "user", fields=fields_block(fields), example=json_example(fields), facts=facts_text(facts)
    )
    content: list[dict[str, object]] = [{"type": "text", "text": text}]
    pictures: list[tuple[str, Path, int]] = []
    if contact_sheet is not None:
        pictures.append(("九宫格（整段视频按时间顺序的缩略图）：", contact_sheet, CONTACT_SHEET_PX))
    for shot, path in keyframes:
        label = f"镜头 {shot.index} 的关键帧（{fmt_time(shot.start_s)}–{fmt_time(shot.end_s)}）："
        pictures.append((label, path, KEYFRAME_PX))
    for label, path, size in pictures:
        url = image_data_url(path, size)
        if url is not None:
            content += [{"type": "text", "text": label}, {"type": "image_url", "image_url": {"url": url}}]
    return [{"role": "system", "content": prompt.text("system")}, {"role": "user", "content": content}]
