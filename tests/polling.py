"""Waiting on a condition with a deadline: polling, never a sleep standing in for synchronisation."""

from __future__ import annotations

import time
from collections.abc import Callable


def poll(condition: Callable[[], object], seconds: float = 30.0) -> bool:
    """Check ``condition`` until it holds (True) or ``seconds`` pass (False)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
