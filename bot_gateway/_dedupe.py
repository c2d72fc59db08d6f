"""Seen event ids and message ids, shared by every gateway instance through the workspace.

A key is claimed by creating its marker file exclusively (``O_CREAT | O_EXCL``), which is atomic on
a local disk and on NAS: of two instances receiving the same redelivery, exactly one wins. Markers
survive restarts and are removed once older than ``ttl_s`` (24 h by default; Feishu redelivers for
about 7 h). Even if the store were lost, the execution name derived from the message id keeps a
second start from starting anything.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

__all__ = ["DedupeStore"]


class DedupeStore:
    """Exclusive-create markers under ``root``, one per key."""

    def __init__(self, root: Path, *, ttl_s: float = 24 * 3600, sweep_every_s: float = 600) -> None:
        self.root = root
        self.ttl_s = ttl_s
        self.sweep_every_s = sweep_every_s
        self._last_sweep = 0.0
        self._lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
        return self.root / digest[:2] / digest

    def claim(self, key: str) -> bool:
        """True if ``key`` was not seen within the TTL (it is now); False for a duplicate."""
        self._maybe_sweep()
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            try:
                if time.time() - path.stat().st_mtime <= self.ttl_s:
                    return False
                path.unlink()  # expired: the key may be used again
            except FileNotFoundError:
                pass
            return self.claim(key)
        try:
            os.write(fd, key.encode("utf-8"))
        finally:
            os.close(fd)
        return True

    def seen(self, key: str) -> bool:
        """Whether ``key`` was claimed within the TTL (without claiming it)."""
        try:
            return time.time() - self._path(key).stat().st_mtime <= self.ttl_s
        except FileNotFoundError:
            return False

    def _maybe_sweep(self) -> None:
        now = time.time()
        with self._lock:
            if now - self._last_sweep < self.sweep_every_s:
                return
            self._last_sweep = now
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            for marker in folder.iterdir():
                try:
                    if now - marker.stat().st_mtime > self.ttl_s:
                        marker.unlink()
                except FileNotFoundError:
                    continue
