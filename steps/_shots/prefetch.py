"""Run producers (decoding passes) in background threads, handing items over a bounded queue.

PyAV releases the GIL while it decodes and scales, so the per-frame work of the consumer (scores,
detectors) overlaps with decoding instead of following it, as PySceneDetect's SceneManager does;
several producers (decoders of separate stretches of a video) decode side by side.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable, Sequence
from contextlib import closing
from typing import Any, TypeVar

__all__ = ["prefetched", "prefetched_all"]

T = TypeVar("T")
_ITEM, _END, _ERROR = range(3)
_POLL_S = 0.1


def prefetched(source: Iterable[T], depth: int = 32) -> Generator[T, None, None]:
    """Yield ``source``'s items, produced up to ``depth`` ahead by a background thread.

    An exception raised by ``source`` is re-raised here. Closing this generator (or leaving a
    ``with closing(...)`` block) stops the producer and waits for it, so whatever ``source`` reads
    from may be closed right after.
    """
    with closing(prefetched_all([source], depth)) as items:
        for _, item in items:
            yield item


def prefetched_all(sources: Sequence[Iterable[T]], depth: int = 32) -> Generator[tuple[int, T], None, None]:
    """Yield ``(k, item)`` for the items of every ``sources[k]``, each source produced by its own
    background thread (``depth`` items ahead in all), in the order they are produced.

    The first exception raised by a source is re-raised here and stops the others; closing this
    generator stops every producer and waits for them (as :func:`prefetched`).
    """
    handoff: queue.Queue[tuple[int, int, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[int, int, Any]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce(k: int, source: Iterable[T]) -> None:
        items = iter(source)
        try:
            for item in items:
                if not put((_ITEM, k, item)):
                    return
            put((_END, k, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put((_ERROR, k, exc))
        finally:
            close = getattr(items, "close", None)  # a generator: run its cleanup in this thread
            if close is not None:
                close()

    threads = [
        threading.Thread(target=produce, args=(k, source), name=f"prefetch-{k}", daemon=True)
        for k, source in enumerate(sources)
    ]
    for thread in threads:
        thread.start()
    try:
        running = len(threads)
        while running:
            kind, k, value = handoff.get()
            if kind == _END:
                running -= 1
            elif kind == _ERROR:
                raise value
            else:
                yield k, value
    finally:
        stop.set()
        for thread in threads:
            thread.join()
