"""gdx.ahead: a producer a few items ahead of its consumer, in a thread."""

from __future__ import annotations

import threading
import time
from contextlib import closing

import pytest

from gdx.ahead import ahead


def test_items_come_in_order_and_whole():
    assert list(ahead(lambda: iter(range(100)), depth=3)) == list(range(100))
    assert list(ahead(lambda: iter([]))) == []


def test_the_producer_runs_in_another_thread_at_most_depth_ahead():
    made, threads = [], set()

    def produce():
        for n in range(20):
            threads.add(threading.get_ident())
            made.append(n)
            yield n

    items = ahead(produce, depth=2)
    assert next(items) == 0
    time.sleep(0.3)  # the producer fills the queue, then waits
    # taken: 1, in the queue: 2, in the producer's hand, waiting to be queued: 1
    assert len(made) <= 1 + 2 + 1
    assert list(items) == list(range(1, 20))
    assert threads and threading.get_ident() not in threads


def test_a_producer_error_is_raised_in_the_consumer_after_what_came_before():
    def produce():
        yield 1
        yield 2
        raise ValueError("block 3 is unreadable")

    got = []
    with pytest.raises(ValueError, match="block 3 is unreadable"):
        for item in ahead(produce):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_stops_the_producer_and_its_clean_up_runs():
    closed = threading.Event()

    def produce():
        try:
            n = 0
            while True:  # endless: only the consumer's stop ends it
                yield n
                n += 1
        finally:
            closed.set()

    with closing(ahead(produce, depth=2)) as items:
        for item in items:
            if item == 5:
                break
    assert closed.wait(5)


def test_a_consumer_that_raises_stops_the_producer():
    closed = threading.Event()

    def produce():
        try:
            yield from range(1000)
        finally:
            closed.set()

    with pytest.raises(RuntimeError), closing(ahead(produce)) as items:
        for item in items:
            if item == 3:
                raise RuntimeError("the disk is full")
    assert closed.wait(5)
