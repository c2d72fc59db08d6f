"""Analyze: a video's metrics (pace, speech, spoken and on-screen hook, CTR/CVR) and the fields of
every registered analyzer.

Analyzers (the AI analysis) plug in through the registry in ``ctx.analyzers`` (see ``_analysis``).
"""

from __future__ import annotations

from typing import Literal

from ._analysis import AnalysisInput, run_analyzers
from ._artifacts import AnalysisRecord
from ._folder import VideoFolder
from ._manifest import load_manifest
from ._metrics import compute_metrics
from ._progress import settle_optional_stages
from ._runtime import StepContext, StepModel, VideoRef, step
from .errors import PermanentError

__all__ = ["AnalyzeOutput", "handler", "run"]


class AnalyzeOutput(StepModel):
    video_id: str
    status: Literal["ok"]


def run(inp: VideoRef, ctx: StepContext) -> AnalyzeOutput:
    """Compute metrics from probe, shots and transcript, run the analyzers; write ``analysis.json``."""
    ws = ctx.workspace(inp.task_id)
    settle_optional_stages(ws, inp.video_id, sink=ctx.progress)  # e.g. OCR gave up: the card moves on
    video = VideoFolder.of(ws, inp.video_id)
    probe, shots = video.probe(), video.shots()
    if probe is None or shots is None:
        missing = "probe.json" if probe is None else "shots.json"
        raise PermanentError(f"analysis needs {missing}, which an earlier step did not write")
    manifest = load_manifest(ws)
    entry = manifest.video(inp.video_id)
    metrics = compute_metrics(probe, shots, video.transcript(), entry.performance, video.screen_text())
    job = AnalysisInput(video=video, entry=entry, options=manifest.options, metrics=metrics, workspace=ws)
    found = run_analyzers(job, ctx, ctx.analyzers.values())
    record = AnalysisRecord(metrics=metrics)
    if found is not None:
        record = AnalysisRecord(
            metrics=metrics, ai=dict(found.fields), ai_usage=found.usage, ai_status=found.status
        )
    video.save(record)
    ctx.log.info(
        "analysis.done",
        shots=metrics.shot_count,
        speech_rate=metrics.speech_rate,
        ai=found.status.state if found and found.status else None,
    )
    return AnalyzeOutput(video_id=inp.video_id, status="ok")


handler = step("analyze", VideoRef, stage="analyze")(run)
