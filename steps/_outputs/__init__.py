"""Local outputs of a task: results.json, report.xlsx and report.html, with their media."""

from __future__ import annotations

from .collect import Counts, Results, collect_results, results_schema
from .excel import write_xlsx
from .html import render_html, write_html
from .render import OUTPUT_FILES, render_reports, write_outputs

__all__ = [
    "OUTPUT_FILES",
    "Counts",
    "Results",
    "collect_results",
    "render_html",
    "render_reports",
    "results_schema",
    "write_html",
    "write_outputs",
    "write_xlsx",
]
