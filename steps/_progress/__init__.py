"""A task's progress: the durable per-stage files, the one model read from them, and the sink.

- :mod:`.record` writes and reads ``progress/<video_id>/<stage>.json`` and ``progress/_task.json``;
- :mod:`.model` reads them into a :class:`ProgressSnapshot`, what every renderer shows;
- :mod:`.sink` hands each recorded update to the registered reporters;
- :mod:`.labels` names stages and phases for users, Chinese first.
"""

from __future__ import annotations

from .labels import (
    ERROR_LABELS,
    PHASE_LABELS,
    STAGE_LABELS,
    WRITTEN_LABEL,
    Label,
    error_label,
    failure_text,
    phase_label,
    stage_label,
)
from .model import DONE_PHASES, ProgressSnapshot, VideoState, snapshot, video_names
from .record import (
    OPTIONAL_STAGES,
    STAGES,
    StageCounts,
    load_progress,
    load_video_progress,
    record_stage,
    record_task,
    settle_optional_stages,
    summarize,
)
from .sink import (
    REPORTERS_FROM_SETTINGS,
    ProgressReporter,
    ProgressSink,
    ProgressUpdate,
    ReporterFactory,
    progress_sink,
)

__all__ = [
    "DONE_PHASES",
    "ERROR_LABELS",
    "OPTIONAL_STAGES",
    "PHASE_LABELS",
    "REPORTERS_FROM_SETTINGS",
    "STAGES",
    "STAGE_LABELS",
    "WRITTEN_LABEL",
    "Label",
    "ProgressReporter",
    "ProgressSink",
    "ProgressSnapshot",
    "ProgressUpdate",
    "ReporterFactory",
    "StageCounts",
    "VideoState",
    "error_label",
    "failure_text",
    "load_progress",
    "load_video_progress",
    "phase_label",
    "progress_sink",
    "record_stage",
    "record_task",
    "settle_optional_stages",
    "snapshot",
    "stage_label",
    "summarize",
    "video_names",
]
