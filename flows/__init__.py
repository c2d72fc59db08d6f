"""The workflow: the CloudFlow flow definition and how it runs.

Validation, expressions, the embedded engine with durable history, and graph rendering. The public
surface is listed once here; other packages import only from ``flows``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ._engine import MAX_STATE_BYTES, Engine, Execution
from ._errors import (
    ExecutionAlreadyExists,
    ExecutionNotFound,
    ExecutionNotResumable,
    ExpressionError,
    FlowError,
    SpecError,
    StateSizeExceeded,
)
from ._graph import render_graph
from ._history import ExecutionInfo, ExecutionStore
from ._runner import TaskContext
from ._validate import FlowValidationError, Problem, check_flow, load_flow, validate_flow

__all__ = [
    "MAX_STATE_BYTES",
    "Engine",
    "Execution",
    "ExecutionAlreadyExists",
    "ExecutionInfo",
    "ExecutionNotFound",
    "ExecutionNotResumable",
    "ExecutionStore",
    "ExpressionError",
    "FlowError",
    "FlowValidationError",
    "Problem",
    "SpecError",
    "StateSizeExceeded",
    "TaskContext",
    "check_flow",
    "default_flow_path",
    "load_flow",
    "render_graph",
    "validate_flow",
]


def default_flow_path() -> Path:
    """The packaged ``video_insight.yaml``."""
    return Path(str(resources.files(__package__).joinpath("video_insight.yaml")))
