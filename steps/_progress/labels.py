"""What users read for each stage and phase of a task, Chinese first; every renderer uses these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["PHASE_LABELS", "STAGE_LABELS", "WRITTEN_LABEL", "Label", "phase_label", "stage_label"]


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
