"""Publish: turn the task's artifacts into the outputs the request asked for (results.json always).

The output folder is self-contained: the media the outputs show are copied to ``out/media/`` and
every path in results.json is relative to ``out/``. Re-running Publish rewrites the same files.
Each output is made by its publisher (``_publishers.PUBLISHERS``).
"""

from __future__ import annotations

from pydantic import Field

from ._ai.summary import brief_lines, usage_text
from ._logging import get_logger
from ._manifest import load_manifest
from ._outputs import collect_results
from ._progress import record_task
from ._publishers import Destination, publish_results, render_reports
from ._runtime import StepContext, StepModel, step
from .errors import InvalidStepInput

__all__ = ["PublishInput", "PublishOutput", "handler", "render_reports", "run"]

log = get_logger(__name__)


class PublishInput(StepModel):
    task_id: str


class PublishOutput(StepModel):
    task_id: str
    outputs: dict[str, str]  # output → file name inside the task's out/ folder, or a link (bitable: the Base)
    # output → {code, message}: published elsewhere (a Bitable) and failed for good; the files were written
    failed: dict[str, dict[str, str]] = Field(default_factory=dict)


def run(inp: PublishInput, ctx: StepContext) -> PublishOutput:
    """Collect every video's result and publish the task's outputs."""
    ws = ctx.workspace(inp.task_id)
    if not ws.manifest.is_file():
        raise InvalidStepInput(f"publish: task {inp.task_id} has no manifest (was it prepared?)")
    manifest = load_manifest(ws)
    record_task(ws, phase="publishing", sink=ctx.progress)
    results = collect_results(ws, manifest)
    ws.out.mkdir(parents=True, exist_ok=True)
    to = Destination(out_dir=ws.out, settings=ctx.settings, requester=manifest.requester)
    failed: dict[str, dict[str, str]] = {}  # a Base that could not be written; the files still are
    outputs = publish_results(results, manifest.options.outputs, to, failures=failed)
    for name, error in failed.items():
        log.warning("publish.output_failed", output=name, code=error["code"], error=error["message"])
    record_task(
        ws,
        phase="published",
        outputs=outputs,
        output_errors=failed,
        counts=results.counts.model_dump(),
        ai_cost=usage_text(results.analysis_usage),
        summary=brief_lines(results.summary) if results.summary else [],
        sink=ctx.progress,
    )
    log.info("publish.done", ok=results.counts.ok, failed=results.counts.failed, outputs=sorted(outputs))
    return PublishOutput(task_id=inp.task_id, outputs=outputs, failed=failed)


handler = step("publish", PublishInput)(run)
