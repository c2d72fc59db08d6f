"""The tasks the gateways started that may still run, shared by every gateway instance through the
workspace, so the per-user and total limits hold across instances (Function Compute runs as many
as the traffic needs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import steps

__all__ = ["RunningTasks"]


class RunningTasks:
    """One JSON file per started task under ``root``: its id and its requester."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def add(self, task_id: str, open_id: str) -> None:
        """Count task ``task_id`` (a valid task id) as ``open_id``'s until it is finished."""
        steps.atomic_write_json(self.root / f"{task_id}.json", {"task_id": task_id, "open_id": open_id})

    def active(self, finished: Callable[[str], bool]) -> dict[str, str]:
        """Task id → requester of the tasks not ``finished``; finished ones are forgotten."""
        out: dict[str, str] = {}
        for path in self.root.glob("*.json"):
            try:
                record = steps.read_json(path)
                task_id, open_id = str(record["task_id"]), str(record["open_id"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # being written by another instance, or damaged: not counted
            if finished(task_id):
                path.unlink(missing_ok=True)
            else:
                out[task_id] = open_id
        return out
