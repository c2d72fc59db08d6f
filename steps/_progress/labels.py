"""What users read for each stage and phase of a task, Chinese first; every renderer uses these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "ERROR_LABELS",
    "PHASE_LABELS",
    "STAGE_LABELS",
    "WRITTEN_LABEL",
    "Label",
    "error_label",
    "failure_text",
    "phase_label",
    "stage_label",
]


@dataclass(frozen=True)
class Label:
    """A name shown to users: Chinese, then English."""

    zh: str
    en: str = ""

    def __str__(self) -> str:
        return f"{self.zh} {self.en}" if self.en else self.zh

    @property
    def word(self) -> str:
        """The English name in lower case, for plain one-line summaries."""
        return (self.en or self.zh).lower()


# Stages of one video, in flow order (the keys of ``STAGES``).
STAGE_LABELS: Mapping[str, Label] = {
    "fetch": Label("下载", "Download"),
    "media": Label("音频", "Audio"),
    "transcribe": Label("转写", "Transcripts"),
    "shots": Label("截图", "Shots"),
    "ocr": Label("画面文字", "On-screen text"),
    "analyze": Label("分析", "Analysis"),
}
# The last counter of a task: rows written to the outputs.
WRITTEN_LABEL = Label("写入", "Written")
# Phases of the whole task (``phase`` in ``_task.json``), in order; ``failed`` ends it too.
PHASE_LABELS: Mapping[str, Label] = {
    "preparing": Label("准备中", "preparing"),
    "processing": Label("处理中", "processing"),
    "summarizing": Label("总结中", "summarizing"),
    "publishing": Label("生成报告", "publishing"),
    "published": Label("已生成", "published"),
    "finished": Label("完成", "finished"),
    "failed": Label("失败", "failed"),
}


def stage_label(stage: str) -> Label:
    """The label of ``stage``; an unknown stage is shown by its key."""
    return STAGE_LABELS.get(stage) or Label(stage)


def phase_label(phase: str) -> Label:
    """The label of ``phase``; an unknown phase is shown by its key."""
    return PHASE_LABELS.get(phase) or Label(phase)


# Why a video failed, in the words users read first (the code and the step's own message follow).
ERROR_LABELS: Mapping[str, str] = {
    "InvalidRequest": "请求无效",
    "InvalidStepInput": "步骤输入无效",
    "UnsupportedLink": "不支持的链接",
    "BlockedAddress": "地址被拒绝（内网或本机地址）",
    "SourceNotFound": "找不到视频（链接失效或已删除）",
    "DownloadFailed": "下载失败",
    "TooLarge": "文件太大",
    "TooLong": "视频太长",
    "EmptyFile": "文件是空的",
    "NotAVideo": "不是视频文件",
    "CorruptVideo": "视频已损坏，无法解码",
    "NoVideoStream": "文件里没有画面",
    "NoAudioTrack": "没有音轨",
    "ModelUnavailable": "模型不可用",
    "FeishuError": "飞书接口出错",
    "NoVideoLink": "这一行没有视频链接",
    "DuplicateVideo": "重复的视频（只分析一次）",
    "OutputTooLarge": "步骤输出过大",
    "InvalidStepOutput": "步骤输出无效",
    "Incomplete": "处理未完成",
    "Transient.Network": "网络出错（已重试）",
    "Transient.RateLimited": "被限流（已重试）",
    "FnF.TaskTimeout": "处理超时",
    "FnF.StateSizeExceeded": "数据超过单步 64 KB 上限",
    "FnF.ExpressionError": "流程表达式出错",
    "FnF.EventLimitExceeded": "执行事件数超过上限",
    "Engine.StorageFull": "工作目录磁盘已满",
    "FC.Unknown": "函数内部错误",
}


def error_label(code: str | None) -> str:
    """The Chinese words for a failure ``code``; an unknown code reads as 处理失败."""
    return ERROR_LABELS.get(code or "", "处理失败")


def failure_text(code: str | None, message: str | None) -> str:
    """A failure as users read it, Chinese first: ``视频已损坏，无法解码：<message>（CorruptVideo）``."""
    label, message = error_label(code), (message or "").strip()
    text = f"{label}：{message}" if message and message != label else label
    return f"{text}（{code}）" if code else text
