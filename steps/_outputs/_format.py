"""Labels and value formatting shared by the Excel workbook and the HTML report."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .._artifacts import Metrics, ScreenText, ScreenTextLine, Shot, TranscriptRecord, VideoResult
from .._progress.labels import failure_text
from .._speech import speech_between

__all__ = [
    "METRIC_LABELS",
    "PERCENT_METRICS",
    "TIME_METRICS",
    "analysis_keys",
    "error_text",
    "fmt_metric",
    "fmt_time",
    "plain",
    "screen_lines",
    "shot_speech",
    "speech_unit",
    "status_label",
    "transcript_text_or_reason",
]

# Metric field → Chinese-first label, in display order.
METRIC_LABELS: dict[str, str] = {
    "duration_s": "时长",
    "shot_count": "镜头数",
    "avg_shot_s": "平均镜头时长",
    "median_shot_s": "镜头时长中位数",
    "first_shot_s": "首镜头时长",
    "cuts_per_min": "每分钟剪辑数",
    "speech_ratio": "语音占比",
    "speech_rate": "语速",
    "hook_text": "开头 3 秒文案",
    "hook_overlay_text": "开头 3 秒花字",
    "impressions": "曝光",
    "clicks": "点击",
    "spend": "消耗",
    "conversions": "转化",
    "ctr": "点击率 CTR",
    "cvr": "转化率 CVR",
    "cpc": "点击成本 CPC",
    "cpa": "转化成本 CPA",
}
TIME_METRICS = frozenset({"duration_s", "avg_shot_s", "median_shot_s", "first_shot_s"})
PERCENT_METRICS = frozenset({"speech_ratio", "ctr", "cvr"})  # stored as fractions 0..1
_RATE_UNITS = {"chars/min": "字/分钟", "words/min": "词/分钟"}


def fmt_time(seconds: float | None) -> str:
    """``mm:ss.ss`` (``h:mm:ss.ss`` from one hour on); empty for None."""
    if seconds is None:
        return ""
    centis = round(max(seconds, 0.0) * 100)
    hours, rest = divmod(centis, 360000)
    minutes, rest = divmod(rest, 6000)
    secs, cs = divmod(rest, 100)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}.{cs:02d}"
    return f"{minutes:02d}:{secs:02d}.{cs:02d}"


def speech_unit(metrics: Metrics) -> str:
    """The speech-rate unit in Chinese (``字/分钟`` or ``词/分钟``)."""
    unit = metrics.speech_rate_unit or "chars/min"
    return _RATE_UNITS.get(unit, unit)


def fmt_metric(name: str, metrics: Metrics) -> str:
    """One metric as display text ('' when absent)."""
    value = getattr(metrics, name)
    if value is None:
        return ""
    if name in TIME_METRICS:
        return fmt_time(value)
    if name in PERCENT_METRICS:
        return f"{value * 100:.1f}%"
    if name == "speech_rate":
        return f"{value:.0f} {speech_unit(metrics)}"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    return str(value)


def plain(value: Any) -> str:
    """An analysis value as readable text: lists one per line, mappings as ``key: value`` lines."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "\n".join(plain(v) for v in value)
    if isinstance(value, dict):
        return "\n".join(f"{k}: {plain(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "是" if value else "否"
    return json.dumps(value, ensure_ascii=False)


def status_label(video: VideoResult) -> str:
    """成功 / 失败."""
    return "成功" if video.status == "ok" else "失败"


def error_text(video: VideoResult) -> str:
    """The failure reason, Chinese first (``视频已损坏，无法解码：message（code）``); '' for a success."""
    if video.error is None:
        return ""
    return failure_text(video.error.code, video.error.message)


def analysis_keys(videos: Iterable[VideoResult]) -> list[str]:
    """Every key of the AI analysis across ``videos``, in first-seen order."""
    keys: dict[str, None] = {}
    for video in videos:
        for key in video.analysis or {}:
            keys.setdefault(key, None)
    return list(keys)


def transcript_text_or_reason(transcript: TranscriptRecord | None) -> str:
    """The transcript's text, or (when nothing was transcribed) why, in Chinese; '' without one."""
    if transcript is None:
        return ""
    if transcript.segments:
        return transcript.text
    if transcript.empty_reason == "unsupported_language":
        said = f"检测到的语言（{transcript.language}）" if transcript.language else "这种语言"
        return f"{said}无法用 {transcript.engine} {transcript.model} 转写，没有生成文案。"
    return "没有识别到语音（静音、音乐或噪声）。"


def screen_lines(lines: Iterable[ScreenTextLine | ScreenText]) -> str:
    """On-screen lines as text, one per line (a headline marked 【花字】)."""
    return "\n".join(f"【花字】{x.text}" if x.kind == "overlay" else x.text for x in lines)


def shot_speech(shot: Shot, transcript: TranscriptRecord | None) -> str:
    """What was said during ``shot`` (:func:`speech_between` over its time)."""
    if transcript is None:
        return ""
    return speech_between(transcript.segments, shot.start_s, shot.end_s, transcript.language)
