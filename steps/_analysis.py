"""The analyzer seam: named analyzers that add fields to a video's analysis, beside the metrics.

An analyzer reads the video through a typed :class:`VideoFolder` (probe, shots and keyframes,
contact sheet, transcript) plus its manifest entry (name, performance numbers), the request's
options and the computed metrics, and returns named fields for ``analysis.json`` (``ai``) and the
reports — a plain mapping, or :class:`Findings` when it also has a cost and a status to report (a
model-backed analyzer). Analyze runs every analyzer of ``StepContext.analyzers`` (by default the
built-in ones of ``_analyzers.ANALYZERS``: the AI analysis). An analyzer owns its failures: one
that must not fail the video (a model endpoint timing out) returns fields and a status that say
so instead of raising.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ._artifacts import AiStatus, AiUsage, Metrics
from ._folder import VideoFolder
from ._manifest import Options, VideoEntry
from ._plugins import Registry
from ._workspace import TaskWorkspace

if TYPE_CHECKING:
    from ._runtime import StepContext

__all__ = [
    "AnalysisInput",
    "AnalyzerRegistry",
    "Findings",
    "VideoAnalyzer",
    "run_analyzers",
]


@dataclass(frozen=True)
class AnalysisInput:
    """Everything an analyzer gets about one video."""

    video: VideoFolder  # the artifacts, typed
    entry: VideoEntry  # name, source and performance numbers from the request
    options: Options  # the request's options
    metrics: Metrics  # pace, speech, hook and ad ratios, computed already
    workspace: TaskWorkspace  # the task's workspace (shared state of the task, such as call slots)


@dataclass(frozen=True)
class Findings:
    """What analyzers found about a video: fields, and what model calls cost and how they went."""

    fields: Mapping[str, Any]
    usage: AiUsage | None = None
    status: AiStatus | None = None


class VideoAnalyzer(Protocol):
    """Adds named fields to a video's analysis."""

    @property
    def name(self) -> str: ...

    def analyze(self, inp: AnalysisInput, ctx: StepContext) -> Mapping[str, Any] | Findings:
        """The fields this analyzer adds (field name → JSON value), with usage and status if it has them."""
        ...


AnalyzerRegistry = Registry[VideoAnalyzer]


def run_analyzers(
    inp: AnalysisInput, ctx: StepContext, analyzers: Iterable[VideoAnalyzer]
) -> Findings | None:
    """Every analyzer's findings, merged in order; None when there is no analyzer.

    Usages add up. Two analyzers returning the same field, or each a status, is a programming
    error (``ValueError``): one would silently hide the other.
    """
    merged: Findings | None = None
    owner: dict[str, str] = {}
    status_owner = ""
    for analyzer in analyzers:
        found = analyzer.analyze(inp, ctx)
        found = found if isinstance(found, Findings) else Findings(dict(found))
        fields = dict(merged.fields) if merged else {}
        for key, value in found.fields.items():
            if key in owner:
                raise ValueError(f"analyzers {owner[key]!r} and {analyzer.name!r} both return {key!r}")
            owner[key] = analyzer.name
            fields[key] = value
        status = merged.status if merged else None
        if found.status is not None:
            if status is not None:
                raise ValueError(f"analyzers {status_owner!r} and {analyzer.name!r} both report a status")
            status, status_owner = found.status, analyzer.name
        usage = merged.usage if merged else None
        if found.usage is not None:
            usage = found.usage if usage is None else usage.plus(found.usage)
        merged = Findings(fields, usage, status)
    return merged
