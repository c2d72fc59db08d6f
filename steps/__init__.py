"""The work of each Task state: one module per step, each a ``handler(event, context)``.

The public surface is listed once here; other packages import only from ``steps``.
"""

from __future__ import annotations

from ._analysis import ANALYZERS, AnalysisInput, VideoAnalyzer
from ._artifacts import (
    AnalysisRecord,
    ErrorInfo,
    FetchRecord,
    Metrics,
    ProbeRecord,
    Screenshot,
    Segment,
    Shot,
    ShotsRecord,
    TranscriptRecord,
    VideoResult,
    load_artifact,
    save_artifact,
)
from ._cleanup import clean_workspace, parse_duration
from ._fc import StepApp, StepNotFound, make_step_server, serve_steps
from ._folder import VideoFolder
from ._logging import configure_logging, get_logger
from ._manifest import Manifest, Options, VideoEntry, load_manifest
from ._plugins import Registry, UnknownName
from ._progress import (
    PHASE_LABELS,
    REPORTERS_FROM_SETTINGS,
    STAGE_LABELS,
    STAGES,
    WRITTEN_LABEL,
    Label,
    ProgressReporter,
    ProgressSink,
    ProgressSnapshot,
    ProgressUpdate,
    ReporterFactory,
    StageCounts,
    VideoState,
    load_progress,
    load_video_progress,
    phase_label,
    progress_sink,
    record_stage,
    record_task,
    snapshot,
    stage_label,
    summarize,
    video_names,
)
from ._publishers import PUBLISHERS, Destination, Publisher, default_outputs
from ._registry import ARN_PREFIX, StepRegistry, function_name, registry
from ._request import batch_schema, validate_request
from ._runtime import MAX_STATE_BYTES, StepContext, VideoRef, state_size, step, step_services
from ._settings import Secret, Settings
from ._workspace import TaskWorkspace, atomic_write_bytes, atomic_write_json, read_json, valid_id
from .errors import PermanentError, TransientError, VideoInsightError

__all__ = [
    "ANALYZERS",
    "ARN_PREFIX",
    "MAX_STATE_BYTES",
    "PHASE_LABELS",
    "PUBLISHERS",
    "REPORTERS_FROM_SETTINGS",
    "STAGES",
    "STAGE_LABELS",
    "WRITTEN_LABEL",
    "AnalysisInput",
    "AnalysisRecord",
    "Destination",
    "ErrorInfo",
    "FetchRecord",
    "Label",
    "Manifest",
    "Metrics",
    "Options",
    "PermanentError",
    "ProbeRecord",
    "ProgressReporter",
    "ProgressSink",
    "ProgressSnapshot",
    "ProgressUpdate",
    "Publisher",
    "Registry",
    "ReporterFactory",
    "Screenshot",
    "Secret",
    "Segment",
    "Settings",
    "Shot",
    "ShotsRecord",
    "StageCounts",
    "StepApp",
    "StepContext",
    "StepNotFound",
    "StepRegistry",
    "TaskWorkspace",
    "TranscriptRecord",
    "TransientError",
    "UnknownName",
    "VideoAnalyzer",
    "VideoEntry",
    "VideoFolder",
    "VideoInsightError",
    "VideoRef",
    "VideoResult",
    "VideoState",
    "atomic_write_bytes",
    "atomic_write_json",
    "batch_schema",
    "clean_workspace",
    "configure_logging",
    "default_outputs",
    "function_name",
    "get_logger",
    "load_artifact",
    "load_manifest",
    "load_progress",
    "load_video_progress",
    "make_step_server",
    "parse_duration",
    "phase_label",
    "progress_sink",
    "read_json",
    "record_stage",
    "record_task",
    "registry",
    "save_artifact",
    "serve_steps",
    "snapshot",
    "stage_label",
    "state_size",
    "step",
    "step_services",
    "summarize",
    "valid_id",
    "validate_request",
    "video_names",
]
