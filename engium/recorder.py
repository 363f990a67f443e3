"""A worker process's recorder thread: outcomes of work started elsewhere, recorded aside.

A task that waits for a remote party (a provider, a webhook endpoint) would hold its worker
process for the whole round trip. Instead it starts the requests and returns; each outcome
*lands* here when it is in, and one thread per process, with a database connection of its
own (Django's connections are per thread), records what has landed in groups. The work is
counted from its start until its record (`in_flight`), which gives the tasks their
back-pressure (`wait_for_room`) and the worker its orderly exit (`drain`). A forked child
starts with nothing in flight and a thread of its own.

Subclasses say how to record a group (`record`) and how much work an item settles
(`weight`); `conversations.services.sending` and `webhooks.services.sending` use it.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from django.db import connection

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Recorder(ABC, Generic[T]):
    """One per worker process: what is in flight, and the thread that records it."""

    #: the recorder thread's name
    thread_name = "engium-recorder"

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._queue: queue.SimpleQueue[T] = queue.SimpleQueue()
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._pid = 0

    @property
    def in_flight(self) -> int:
        """Work started by this process and not yet recorded."""
        return self._in_flight

    def started(self, count: int) -> None:
        """``count`` more is in flight (before its requests go out)."""
        self._ensure_thread()
        with self._changed:
            self._in_flight += count

    def land(self, item: T) -> None:
        """An outcome is in (any thread): the recorder thread records it."""
        self._queue.put(item)

    def wait_for_room(self, limit: int) -> None:
        """Block while more than ``limit`` is in flight in this process."""
        self._ensure_thread()
        with self._changed:
            self._changed.wait_for(lambda: self._in_flight <= max(limit, 0))

    def drain(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until everything started here is recorded."""
        if self._pid != os.getpid():
            return True  # nothing was started in this process
        with self._changed:
            return self._changed.wait_for(lambda: self._in_flight == 0, timeout)

    @abstractmethod
    def record(self, landed: list[T]) -> None:
        """Record a group of landed items (on the recorder thread)."""

    def weight(self, item: T) -> int:
        """How much of what is in flight ``item`` settles."""
        return 1

    def forked(self) -> None:
        """Forget the parent's state of a subclass's own (in a forked child)."""

    def settled(self, landed: list[T]) -> None:
        """``landed`` is recorded (or given up on): room for more."""
        with self._changed:
            self._in_flight -= sum(self.weight(item) for item in landed)
            self._changed.notify_all()

    def _ensure_thread(self) -> None:
        with self._changed:
            if self._pid != os.getpid():  # forked: the parent's queue and counts are not ours
                self._queue, self._in_flight, self._thread = queue.SimpleQueue(), 0, None
                self.forked()
                self._pid = os.getpid()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name=self.thread_name, daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            landed = [self._queue.get()]
            while True:  # everything that landed meanwhile goes in the same group
                try:
                    landed.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.record(landed)
            except Exception:
                # Unrecorded: the work's leases expire, and its sweep takes it again.
                logger.exception("could not record", extra={"recorder": self.thread_name})
                connection.close()  # a broken connection is replaced on next use
            finally:
                self.settled(landed)
