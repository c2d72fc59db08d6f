"""video-insight: analyse short videos in bulk — the command-line front door.

The wiring that the CLI and the gateway share is public here: :func:`submit_task` turns a request
into an execution on any :class:`flows.ExecutionEngine`.
"""

from __future__ import annotations

from ._submit import Submission, new_task_id, submit_task

__all__ = ["Submission", "__version__", "new_task_id", "submit_task"]

__version__ = "0.1.0"
