"""The workflow: the CloudFlow flow definition and how it runs.

Validation, expressions, the engine interface (:class:`ExecutionEngine`, :class:`Execution`,
:class:`ExecutionStatus`), the embedded engine with durable history, and graph rendering. The
public surface is listed once here; other packages import only from ``flows``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ._engine import MAX_STATE_BYTES, Engine
from ._errors import (
    ExecutionAlreadyExists,
    ExecutionNotFound,
    ExecutionNotResumable,
    ExecutionNotRunning,
    ExpressionError,
    FlowError,
    SpecError,
    StateSizeExceeded,
    StorageFull,
)
from ._graph import render_graph
from ._history import ExecutionInfo, ExecutionStore, state_stats, state_timings
from ._interface import Execution, ExecutionEngine, ExecutionStatus, HistoryEvent
from ._states import TaskContext
from ._validate import FlowValidationError, Problem, check_flow, load_flow, validate_flow

__all__ = [
    "MAX_STATE_BYTES",
    "Engine",
    "Execution",
    "ExecutionAlreadyExists",
    "ExecutionEngine",
    "ExecutionInfo",
    "ExecutionNotFound",
    "ExecutionNotResumable",
    "ExecutionNotRunning",
    "ExecutionStatus",
    "ExecutionStore",
    "ExpressionError",
    "FlowError",
    "FlowValidationError",
    "HistoryEvent",
    "Problem",
    "SpecError",
    "StateSizeExceeded",
    "StorageFull",
    "TaskContext",
    "check_flow",
    "default_flow_path",
    "load_flow",
    "render_graph",
    "state_stats",
    "state_timings",
    "validate_flow",
]


def default_flow_path() -> Path:
    """The packaged ``video_insight.yaml``."""
    return Path(str(resources.files(__package__).joinpath("video_insight.yaml")))
