"""The work of each Task state: one module per step, each a ``handler(event, context)``.

The public surface is listed once here; other packages import only from ``steps``.
"""

from __future__ import annotations

from . import _bitable as bitable
from . import _feishu as feishu
from ._ai import DEFAULT_FIELDS, FieldSpec, fields_from_bitable
from ._ai.summary import BatchSummary, brief_lines, usage_text
from ._analysis import AnalysisInput, Findings, VideoAnalyzer
from ._analyzers import ANALYZERS
from ._artifacts import (
    AiStatus,
    AiUsage,
    AnalysisRecord,
    ErrorInfo,
    FetchRecord,
    Metrics,
    ProbeRecord,
    Screenshot,
    Segment,
    Shot,
    ShotScan,
    ShotsRecord,
    TranscriptRecord,
    VideoResult,
    Word,
    load_artifact,
    save_artifact,
)
from ._cleanup import clean_workspace, parse_duration
from ._fc import MAX_EVENT_BYTES, FCResponse, FCStep, StepNotFound, fc_error
from ._folder import VideoFolder
from ._json import JsonInputError, loads_strict
from ._logging import configure_logging, get_logger
from ._manifest import AnalysisOptions, Manifest, Options, VideoEntry, load_manifest
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
from ._registry import ARN_PREFIX, StepRegistry, function_name, registry, serve_steps
from ._request import batch_schema, validate_request
from ._runtime import MAX_STATE_BYTES, StepContext, VideoRef, state_size, step, step_services
from ._settings import DEFAULT_LLM_BASE_URL, DEFAULT_LLM_MODEL, Secret, Settings
from ._text import printable
from ._workspace import TaskWorkspace, atomic_copy, atomic_write_bytes, atomic_write_json, read_json, valid_id
from .errors import PermanentError, TransientError, VideoInsightError

__all__ = [
    "ANALYZERS",
    "ARN_PREFIX",
    "DEFAULT_FIELDS",
    "DEFAULT_LLM_BASE_URL",
    "DEFAULT_LLM_MODEL",
    "MAX_EVENT_BYTES",
    "MAX_STATE_BYTES",
    "PHASE_LABELS",
    "PUBLISHERS",
    "REPORTERS_FROM_SETTINGS",
    "STAGES",
    "STAGE_LABELS",
    "WRITTEN_LABEL",
    "AiStatus",
    "AiUsage",
    "AnalysisInput",
    "AnalysisOptions",
    "AnalysisRecord",
    "BatchSummary",
    "Destination",
    "ErrorInfo",
    "FCResponse",
    "FCStep",
    "FetchRecord",
    "FieldSpec",
    "Findings",
    "JsonInputError",
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
    "ShotScan",
    "ShotsRecord",
    "StageCounts",
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
    "Word",
    "atomic_copy",
    "atomic_write_bytes",
    "atomic_write_json",
    "batch_schema",
    "bitable",
    "brief_lines",
    "clean_workspace",
    "configure_logging",
    "default_outputs",
    "fc_error",
    "feishu",
    "fields_from_bitable",
    "function_name",
    "get_logger",
    "load_artifact",
    "load_manifest",
    "load_progress",
    "load_video_progress",
    "loads_strict",
    "parse_duration",
    "phase_label",
    "printable",
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
    "usage_text",
    "valid_id",
    "validate_request",
    "video_names",
]
