"""Every step this package serves, and the ``resourceArn → handler`` map the embedded engine uses.

A step is a module of this package with ``handler(event, context)``, and optionally
``initialize(settings)`` (warm-up, called once per Function Compute instance). Flow Tasks name their
step through the ``resourceArn`` of its function; a step that is not a flow Task (the cleanup timer)
is served as a function too, but no flow can call it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType, ModuleType
from typing import Any

__all__ = [
    "ARN_PREFIX",
    "STEPS",
    "StepInfo",
    "StepRegistry",
    "flow_steps",
    "function_name",
    "registry",
    "serve_steps",
    "step_module",
]

ARN_PREFIX = "acs:fc:::functions/"
Handler = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class StepInfo:
    """Where a step lives, and whether a flow Task may call it."""

    module: str  # module of this package holding ``handler``
    flow_task: bool = True  # False: triggered otherwise (a timer), never a flow's resourceArn


# FC function name suffix → the step.
STEPS: Mapping[str, StepInfo] = MappingProxyType(
    {
        "prepare": StepInfo("prepare"),
        "fetch": StepInfo("fetch"),
        "media": StepInfo("media"),
        "transcribe": StepInfo("transcribe"),
        "shots": StepInfo("shots"),
        "ocr": StepInfo("ocr"),
        "analyze": StepInfo("analyze"),
        "record-failure": StepInfo("record_failure"),
        "summarize": StepInfo("summarize"),
        "publish": StepInfo("publish"),
        "finish": StepInfo("finish"),
        "cleanup": StepInfo("cleanup", flow_task=False),
    }
)


def function_name(step: str) -> str:
    """The Function Compute function name of ``step`` (``video-insight-<step>``)."""
    return f"video-insight-{step}"


def flow_steps() -> list[str]:
    """The step names a flow Task may call (``resourceArn`` ``acs:fc:::functions/video-insight-<step>``)."""
    return [s for s, info in STEPS.items() if info.flow_task]


def serve_steps() -> list[str]:
    """Every step name a function may serve: the flow's steps and the timer-triggered ones."""
    return list(STEPS)


def step_module(step: str) -> ModuleType:
    """The module implementing ``step`` (imported on first use; KeyError for an unknown step)."""
    return importlib.import_module(f"{__package__}.{STEPS[step].module}")


class StepRegistry(Mapping[str, Handler]):
    """A read-only ``resourceArn → handler`` mapping of the flow Tasks; modules load on lookup."""

    def __init__(self) -> None:
        self._arns = {f"{ARN_PREFIX}{function_name(s)}": s for s in flow_steps()}
        self._loaded: dict[str, Handler] = {}

    def __getitem__(self, arn: str) -> Handler:
        if arn not in self._loaded:
            self._loaded[arn] = step_module(self._arns[arn]).handler
        return self._loaded[arn]

    def __contains__(self, arn: object) -> bool:
        return arn in self._arns

    def __iter__(self) -> Iterator[str]:
        return iter(self._arns)

    def __len__(self) -> int:
        return len(self._arns)


def registry() -> StepRegistry:
    """The registry the embedded engine resolves a Task's ``resourceArn`` with."""
    return StepRegistry()
