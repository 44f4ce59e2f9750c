"""Run a producer a few items ahead of its consumer, in a thread, with a bounded queue.

A batch judges block n+1 in Python while PostgreSQL takes block n: the database works in its
own process, and the Python side waits on it with the GIL released, so the two overlap on a
machine of two cores. The queue's depth bounds how many blocks are in memory at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()
_POLL = 0.1  # seconds: how soon a producer notices that its consumer stopped


def ahead(produce: Callable[[], Iterator[T]], depth: int = 2) -> Iterator[T]:
    """Yield what `produce()` yields, computed in a thread up to `depth` items ahead.

    An exception of the producer is raised here, in the consumer, at the item it stopped
    at. When the consumer stops early (it raised, or closed this generator), the producer is
    told to stop and does at its next item; it is waited for a moment, not forever (a read
    that hangs must not hold the batch's failure).
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        source = produce()
        try:
            for item in source:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((_END, exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=run, name="gdx-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = items.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
