"""The analyzer seam: named analyzers that add fields to a video's analysis, beside the metrics.

An analyzer reads the video through a typed :class:`VideoFolder` (probe, shots and keyframes,
contact sheet, transcript) plus its manifest entry (name, performance numbers), the request's
options and the computed metrics, and returns named fields for ``analysis.json`` (``ai``) and the
reports. Analyze runs every analyzer of ``StepContext.analyzers`` (by default :data:`ANALYZERS`,
the built-in ones: none until the AI analysis exists). An analyzer owns its failures: one that
must not fail the video (a model endpoint timing out) returns fields that say so instead of raising.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ._artifacts import Metrics
from ._folder import VideoFolder
from ._manifest import Options, VideoEntry
from ._plugins import Registry

if TYPE_CHECKING:
    from ._runtime import StepContext

__all__ = ["ANALYZERS", "AnalysisInput", "AnalyzerRegistry", "VideoAnalyzer", "run_analyzers"]


@dataclass(frozen=True)
class AnalysisInput:
    """Everything an analyzer gets about one video."""

    video: VideoFolder  # the artifacts, typed
    entry: VideoEntry  # name, source and performance numbers from the request
    options: Options  # the request's options
    metrics: Metrics  # pace, speech, hook and ad ratios, computed already


class VideoAnalyzer(Protocol):
    """Adds named fields to a video's analysis."""

    @property
    def name(self) -> str: ...

    def analyze(self, inp: AnalysisInput, ctx: StepContext) -> Mapping[str, Any]:
        """The fields this analyzer adds (field name → JSON value)."""
        ...


AnalyzerRegistry = Registry[VideoAnalyzer]
ANALYZERS: AnalyzerRegistry = Registry("analyzer", [])


def run_analyzers(
    inp: AnalysisInput, ctx: StepContext, analyzers: Iterable[VideoAnalyzer]
) -> dict[str, Any] | None:
    """Every analyzer's fields, merged in order; None when there is no analyzer.

    Two analyzers returning the same field is a programming error (``ValueError``): one would
    silently hide the other.
    """
    fields: dict[str, Any] | None = None
    owner: dict[str, str] = {}
    for analyzer in analyzers:
        fields = fields if fields is not None else {}
        for key, value in analyzer.analyze(inp, ctx).items():
            if key in owner:
                raise ValueError(f"analyzers {owner[key]!r} and {analyzer.name!r} both return {key!r}")
            owner[key] = analyzer.name
            fields[key] = value
    return fields
