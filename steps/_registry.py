"""Maps each Task's ``resourceArn`` to the handler that implements it (imported on first use)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["ARN_PREFIX", "STEP_MODULES", "StepRegistry", "function_name", "registry"]

ARN_PREFIX = "acs:fc:::functions/"
# FC function name suffix → module in this package holding ``handler``.
STEP_MODULES = {
    "prepare": "prepare",
    "fetch": "fetch",
    "media": "media",
    "transcribe": "transcribe",
    "shots": "shots",
    "analyze": "analyze",
    "record-failure": "record_failure",
    "publish": "publish",
    "finish": "finish",
}

Handler = Callable[..., dict[str, Any]]


def function_name(step: str) -> str:
    """The Function Compute function name of ``step`` (``video-insight-<step>``)."""
    return f"video-insight-{step}"


class StepRegistry(Mapping[str, Handler]):
    """A read-only ``resourceArn → handler`` mapping; modules load lazily on lookup."""

    def __init__(self) -> None:
        self._arns = {f"{ARN_PREFIX}{function_name(s)}": m for s, m in STEP_MODULES.items()}
        self._loaded: dict[str, Handler] = {}

    def __getitem__(self, arn: str) -> Handler:
        if arn not in self._loaded:
            module = importlib.import_module(f"{__package__}.{self._arns[arn]}")
            self._loaded[arn] = module.handler
        return self._loaded[arn]

    def __contains__(self, arn: object) -> bool:
        return arn in self._arns

    def __iter__(self) -> Iterator[str]:
        return iter(self._arns)

    def __len__(self) -> int:
        return len(self._arns)


def registry() -> StepRegistry:
    """The registry the embedded engine and the FC adapter resolve ARNs with."""
    return StepRegistry()
