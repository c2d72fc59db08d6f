"""The workflow: the CloudFlow flow definition and how it runs.

Validation, expressions, the engine interface (:class:`ExecutionEngine`, :class:`Execution`,
:class:`ExecutionStatus`), the embedded engine with durable history, the CloudFlow client and the
local CloudFlow-compatible endpoint, and graph rendering. The public surface is listed once here;
other packages import only from ``flows``.
"""

from __future__ import annotations

from importlib import import_module, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._cloudflow import CLOUDFLOW_REGIONS, CloudFlowConfig, CloudFlowEngine, CloudFlowError
from ._engine import MAX_STATE_BYTES, Engine
from ._errors import (
    EventLimitExceeded,
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
from ._fc_http import FunctionError, HttpFunctions, function_of_arn
from ._graph import render_graph
from ._history import (
    CLOUDFLOW_MAX_EVENTS,
    ExecutionInfo,
    ExecutionStore,
    cloudflow_events,
    state_stats,
    state_timings,
)
from ._interface import Execution, ExecutionEngine, ExecutionStatus, HistoryEvent
from ._states import TaskContext
from ._validate import FlowValidationError, Problem, check_flow, embedded_gaps, load_flow, validate_flow

if TYPE_CHECKING:
    from ._local_api import cloudflow_app
    from ._local_service import ApiError, LocalCloudFlow

__all__ = [
    "CLOUDFLOW_MAX_EVENTS",
    "CLOUDFLOW_REGIONS",
    "MAX_STATE_BYTES",
    "ApiError",
    "CloudFlowConfig",
    "CloudFlowEngine",
    "CloudFlowError",
    "Engine",
    "EventLimitExceeded",
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
    "FunctionError",
    "HistoryEvent",
    "HttpFunctions",
    "LocalCloudFlow",
    "Problem",
    "SpecError",
    "StateSizeExceeded",
    "StorageFull",
    "TaskContext",
    "check_flow",
    "cloudflow_app",
    "cloudflow_events",
    "default_flow_path",
    "embedded_gaps",
    "function_of_arn",
    "load_flow",
    "render_graph",
    "state_stats",
    "state_timings",
    "validate_flow",
]


_LAZY = {"cloudflow_app": "._local_api", "ApiError": "._local_service", "LocalCloudFlow": "._local_service"}


def __getattr__(name: str) -> Any:
    """The local CloudFlow endpoint loads on first use (Starlette costs the CLI half a second)."""
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_flow_path() -> Path:
    """The packaged ``video_insight.yaml``."""
    return Path(str(resources.files(__package__).joinpath("video_insight.yaml")))
