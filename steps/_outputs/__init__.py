"""Local outputs of a task: results.json, report.xlsx and report.html, with their media.

Which outputs a task gets, and how each is published, is the publisher registry's (``_publishers``).
"""

from __future__ import annotations

from .collect import Counts, Results, collect_results, results_schema
from .excel import write_xlsx
from .html import render_html, write_html

__all__ = [
    "Counts",
    "Results",
    "collect_results",
    "render_html",
    "results_schema",
    "write_html",
    "write_xlsx",
]
