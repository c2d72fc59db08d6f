"""A per-task limit on how many holders do one thing at a time, across threads, processes and machines.

The Map runs a task's videos in parallel, locally in threads and in the cloud on separate Function
Compute instances that share only the workspace mount. :func:`task_slot` takes one of ``limit``
slots of a named group of the task — an ``flock`` on ``tasks/<task_id>/slots/<group>/<n>.lock`` —
and waits (polling, with a deadline) while all are taken. The OS drops the lock of a process that
dies, so a crashed holder never keeps a slot. On a mount whose file system has no locks, the limit
is logged as unavailable and not applied.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ._logging import get_logger
from ._workspace import TaskWorkspace

__all__ = ["SlotTimeout", "task_slot"]

_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS}
_FIRST_POLL_S = 0.05
_MAX_POLL_S = 1.0
log = get_logger(__name__)


class SlotTimeout(Exception):
    """Every slot stayed taken for the whole wait."""


def _try_slots(folder: os.PathLike[str] | str, limit: int) -> tuple[int, int] | None:
    """(slot, fd) of a free slot, locked; None when all are taken. ``OSError`` when locks do not work."""
    for slot in range(limit):
        fd = os.open(os.path.join(folder, f"{slot}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        except OSError:
            os.close(fd)
            raise
        return slot, fd
    return None


@contextmanager
def task_slot(ws: TaskWorkspace, group: str, limit: int, *, wait_s: float) -> Iterator[int | None]:
    """Hold one of the task's ``limit`` slots of ``group`` for the block; yields its number.

    Yields None when the file system cannot lock (no limit then). Raises :class:`SlotTimeout` when
    no slot came free within ``wait_s`` seconds.
    """
    folder = ws.dir / "slots" / group
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    poll = _FIRST_POLL_S
    while True:
        try:
            taken = _try_slots(folder, max(1, limit))
        except OSError as exc:
            if exc.errno not in _NO_LOCKS:
                raise
            log.warning("slots.unavailable", group=group, error=str(exc))
            yield None
            return
        if taken is not None:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            raise SlotTimeout(f"all {limit} {group} slots of task {ws.task_id} stayed taken for {wait_s:g} s")
        time.sleep(min(poll, left))
        poll = min(poll * 2, _MAX_POLL_S)
    slot, fd = taken
    try:
        yield slot
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
