"""What the steps' retry loops share: a tenacity stop at a deadline, and the pause a server asks for."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

import tenacity

from ._guard import Deadline

__all__ = ["StopBeforeDeadline", "retry_after_s"]


class StopBeforeDeadline(tenacity.stop.stop_base):
    """Stop retrying when the next wait would end at or after the deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        left = self.deadline.remaining()
        return left is not None and retry_state.upcoming_sleep >= left


def retry_after_s(headers: Mapping[str, str]) -> float:
    """Seconds the server asked us to wait (``Retry-After-Ms``, or ``Retry-After`` in seconds or as an
    HTTP date); 0 when it asked nothing."""
    millis = (headers.get("retry-after-ms") or "").strip()
    try:
        return max(0.0, float(millis) / 1000) if millis else _retry_after(headers)
    except ValueError:
        return _retry_after(headers)


def _retry_after(headers: Mapping[str, str]) -> float:
    raw = (headers.get("retry-after") or "").strip()
    try:
        return max(0.0, float(raw or 0))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError):
        return 0.0
