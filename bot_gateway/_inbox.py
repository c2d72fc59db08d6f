"""Accepted messages not handled yet, kept in the shared workspace until a worker has handled them.

The webhook answers 200 once a message is claimed (Feishu then never delivers it again), so a
gateway process that dies between the answer and the work would lose the request. Each accepted
message is written here first and removed when handled; the next gateway to start takes over the
ones left behind for longer than a live worker would need (:meth:`Gateway.recover`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import steps

__all__ = ["Inbox"]


class Inbox:
    """One JSON file per accepted message under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, message_id: str) -> Path:
        return self.root / (re.sub(r"[^A-Za-z0-9_-]", "_", message_id)[:200] + ".json")

    def put(self, message_id: str, record: Mapping[str, Any]) -> None:
        steps.atomic_write_json(self._path(message_id), dict(record))

    def done(self, message_id: str) -> None:
        self._path(message_id).unlink(missing_ok=True)

    def left_behind(self, older_than_s: float, now: float | None = None) -> list[dict[str, Any]]:
        """Records written more than ``older_than_s`` ago, oldest first (unreadable ones are skipped)."""
        now = time.time() if now is None else now
        found: list[tuple[float, dict[str, Any]]] = []
        for path in self.root.glob("*.json"):
            try:
                age = now - path.stat().st_mtime
                if age > older_than_s:
                    found.append((age, steps.read_json(path)))
            except (OSError, ValueError):
                continue
        return [record for _, record in sorted(found, key=lambda item: -item[0])]
