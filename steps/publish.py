"""Publish: turn the task's artifacts into results.json, report.xlsx and report.html in ``out/``.

The output folder is self-contained: the media the outputs show are copied to ``out/media/`` and
every path in results.json is relative to ``out/``. Re-running Publish rewrites the same files.
"""

from __future__ import annotations

from ._logging import get_logger
from ._manifest import load_manifest
from ._outputs import collect_results, render_reports, write_outputs
from ._progress import record_task
from ._runtime import StepContext, StepModel, step
from .errors import InvalidStepInput

__all__ = ["PublishInput", "PublishOutput", "handler", "render_reports", "run"]

log = get_logger(__name__)


class PublishInput(StepModel):
    task_id: str


class PublishOutput(StepModel):
    task_id: str
    outputs: dict[str, str]  # format → file name inside the task's out/ folder


def run(inp: PublishInput, ctx: StepContext) -> PublishOutput:
    """Collect every video's result and write the task's outputs."""
    ws = ctx.workspace(inp.task_id)
    if not ws.manifest.is_file():
        raise InvalidStepInput(f"publish: task {inp.task_id} has no manifest (was it prepared?)")
    manifest = load_manifest(ws)
    record_task(ws, phase="publishing")
    results = collect_results(ws, manifest)
    ws.out.mkdir(parents=True, exist_ok=True)
    outputs = write_outputs(results, ws.out, manifest.options.outputs)
    record_task(ws, phase="published", outputs=outputs, counts=results.counts.model_dump())
    log.info("publish.done", ok=results.counts.ok, failed=results.counts.failed, outputs=sorted(outputs))
    return PublishOutput(task_id=inp.task_id, outputs=outputs)


handler = step("publish", PublishInput)(run)
