"""The front door from Feishu: webhook events and card callbacks → one execution per request.

It depends on ``flows`` and ``steps`` only through their package roots, starts executions named by
the request's message id, and never runs the pipeline itself (the engine it is given does).
"""

from __future__ import annotations

from ._app import gateway_app
from ._dedupe import DedupeStore
from ._gateway import Gateway, Incoming, Limits, Submit, task_id_for
from ._parse import Ask, BadOptions, is_help, message_text, parse_text

__all__ = [
    "Ask",
    "BadOptions",
    "DedupeStore",
    "Gateway",
    "Incoming",
    "Limits",
    "Submit",
    "gateway_app",
    "is_help",
    "message_text",
    "parse_text",
    "task_id_for",
]
