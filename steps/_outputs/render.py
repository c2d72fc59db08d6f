"""Write the chosen output files for a :class:`Results` document, or re-render them from results.json."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .._workspace import atomic_write_bytes, read_json
from .collect import Results
from .excel import write_xlsx
from .html import write_html

__all__ = ["OUTPUT_FILES", "render_reports", "write_outputs"]

OUTPUT_FILES = {"json": "results.json", "xlsx": "report.xlsx", "html": "report.html"}


def write_outputs(results: Results, out_dir: Path, formats: Iterable[str] = OUTPUT_FILES) -> dict[str, str]:
    """Write results.json (always) and the requested reports; ``{format: file name}`` in ``out_dir``."""
    wanted = {"json", *formats}
    written: dict[str, str] = {}
    if "xlsx" in wanted:
        written["xlsx"] = write_xlsx(results, out_dir, OUTPUT_FILES["xlsx"]).name
    if "html" in wanted:
        written["html"] = write_html(results, out_dir, OUTPUT_FILES["html"]).name
    # results.json last: its presence means the reports beside it are complete.
    data = results.model_dump_json(indent=2).encode("utf-8")
    atomic_write_bytes(out_dir / OUTPUT_FILES["json"], data)
    written["json"] = OUTPUT_FILES["json"]
    return {k: written[k] for k in OUTPUT_FILES if k in written}


def render_reports(results_json: Path | str, formats: Iterable[str] = ("xlsx", "html")) -> dict[str, Path]:
    """Re-render the reports beside an existing ``results.json``; ``{format: path}`` of what was written.

    Paths inside results.json are relative to its folder, so this works on a copied or downloaded
    output folder, with no task workspace.
    """
    path = Path(results_json)
    results = Results.model_validate(read_json(path))
    out_dir = path.parent
    written: dict[str, Path] = {}
    if "xlsx" in formats:
        written["xlsx"] = write_xlsx(results, out_dir, OUTPUT_FILES["xlsx"])
    if "html" in formats:
        written["html"] = write_html(results, out_dir, OUTPUT_FILES["html"])
    return written
