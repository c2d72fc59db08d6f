"""Analyze: a video's metrics (pace, speech, hook, CTR/CVR) and, when configured, its AI analysis.

The AI part plugs in through :class:`VideoAnalyzer`; none is registered until that step exists.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from ._artifacts import (
    AnalysisRecord,
    ProbeRecord,
    ShotsRecord,
    TranscriptRecord,
    load_artifact,
    save_artifact,
)
from ._manifest import load_manifest
from ._metrics import compute_metrics
from ._runtime import StepContext, StepModel, VideoRef, step
from .errors import PermanentError

__all__ = ["ANALYZERS", "AnalyzeOutput", "VideoAnalyzer", "handler", "run"]


class VideoAnalyzer(Protocol):
    """The seam for AI analysis: gets the video's folder and metrics, returns named fields."""

    name: str

    def analyze(self, video_dir: Any, metrics: dict[str, Any], ctx: StepContext) -> dict[str, Any]: ...


ANALYZERS: list[VideoAnalyzer] = []


class AnalyzeOutput(StepModel):
    video_id: str
    status: Literal["ok"]


def run(inp: VideoRef, ctx: StepContext) -> AnalyzeOutput:
    """Compute metrics from probe, shots and transcript; write ``analysis.json``."""
    ws = ctx.workspace(inp.task_id)
    vdir = ws.video_dir(inp.video_id)
    probe = load_artifact(vdir, ProbeRecord)
    shots = load_artifact(vdir, ShotsRecord)
    if probe is None or shots is None:
        missing = "probe.json" if probe is None else "shots.json"
        raise PermanentError(f"analysis needs {missing}, which an earlier step did not write")
    transcript = load_artifact(vdir, TranscriptRecord)
    entry = load_manifest(ws).video(inp.video_id)
    metrics = compute_metrics(probe, shots, transcript, entry.performance)
    ai: dict[str, Any] | None = None
    for analyzer in ANALYZERS:
        ai = {**(ai or {}), **analyzer.analyze(vdir, metrics.model_dump(), ctx)}
    save_artifact(vdir, AnalysisRecord(metrics=metrics, ai=ai))
    ctx.log.info("analysis.done", shots=metrics.shot_count, speech_rate=metrics.speech_rate)
    return AnalyzeOutput(video_id=inp.video_id, status="ok")


handler = step("analyze", VideoRef, stage="analyze")(run)
