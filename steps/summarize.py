"""Summarize: one summary over the whole batch, after every video, before Publish.

Input ``{task_id}``. Reads every video's result, computes the rankings and comparisons, asks the
model for the prose when one is configured, and writes ``tasks/<task_id>/summary.json``, which
Publish puts into every output. A model that fails costs only the prose: the step still writes the
numbers and says why the prose is missing. Run again, it makes the summary again.
"""

from __future__ import annotations

from typing import Literal

from ._ai.summary_prose import build_summary
from ._logging import get_logger
from ._manifest import load_manifest
from ._outputs.collect import collect_results
from ._progress import record_task
from ._runtime import StepContext, StepModel, step
from ._workspace import atomic_write_json

__all__ = ["SummarizeInput", "SummarizeOutput", "handler", "run"]

log = get_logger(__name__)


class SummarizeInput(StepModel):
    task_id: str


class SummarizeOutput(StepModel):
    task_id: str
    status: Literal["ok", "not_configured", "failed", "skipped"]  # how the model's part went


def run(inp: SummarizeInput, ctx: StepContext) -> SummarizeOutput:
    """Write the batch summary of the task."""
    ws = ctx.workspace(inp.task_id)
    manifest = load_manifest(ws)
    record_task(ws, phase="summarizing", sink=ctx.progress)
    results = collect_results(ws, manifest, copy_media=False, with_summary=False)
    summary = build_summary(results.videos, manifest.options.analysis.fields, ctx.settings)
    atomic_write_json(ws.summary, summary.model_dump(mode="json"))
    log.info(
        "summary.done",
        status=summary.status.state,
        ranked=len(summary.numbers.with_performance),
        calls=summary.usage.calls if summary.usage else 0,
    )
    return SummarizeOutput(task_id=inp.task_id, status=summary.status.state)


handler = step("summarize", SummarizeInput)(run)
