"""The front door from Feishu: webhook events and card callbacks → one CloudFlow execution per request.

Not built yet (its own issue). It will depend on ``flows`` and ``steps`` only through their package
roots, start executions named by the request's task id, and never run the pipeline itself.
"""

from __future__ import annotations

__all__: list[str] = []
