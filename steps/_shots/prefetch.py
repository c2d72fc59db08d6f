"""Run a producer (a decoding pass) in a background thread, handing items over a bounded queue.

PyAV releases the GIL while it decodes and scales, so the per-frame work of the consumer (scores,
detectors) overlaps with decoding instead of following it, as PySceneDetect's SceneManager does.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable
from typing import Any, TypeVar

__all__ = ["prefetched"]

T = TypeVar("T")
_ITEM, _END, _ERROR = range(3)
_POLL_S = 0.1


def prefetched(source: Iterable[T], depth: int = 32) -> Generator[T, None, None]:
    """Yield ``source``'s items, produced up to ``depth`` ahead by a background thread.

    An exception raised by ``source`` is re-raised here. Closing this generator (or leaving a
    ``with closing(...)`` block) stops the producer and waits for it, so whatever ``source`` reads
    from may be closed right after.
    """
    handoff: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[int, Any]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        items = iter(source)
        try:
            for item in items:
                if not put((_ITEM, item)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put((_ERROR, exc))
        finally:
            close = getattr(items, "close", None)  # a generator: run its cleanup in this thread
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == _END:
                return
            if kind == _ERROR:
                raise value
            yield value
    finally:
        stop.set()
        thread.join()
