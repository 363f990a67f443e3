"""Hands delivery requests to the broker off the request path, in batches.

A send commits its message, then `submit_delivery` puts the ID on an in-process queue and
the request returns. A background thread collects what arrives within a short window
(``ENGIUM_DISPATCH_WINDOW_MS``, 25 ms by default) and publishes one Celery task per tenant
and batch (``conversations.deliver_messages``), so under load N sends cost one publish,
not N (a publish costs more CPU than the send's database work). Losing the queue (the
process dies, the broker is down) loses nothing: the message row is the outbox, and the
sweep re-dispatches what was not picked up.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from collections import defaultdict

from django.conf import settings
from django_tenants.utils import schema_context

logger = logging.getLogger(__name__)

MAX_BATCH = 100


def publish_batch(schema_name: str, message_ids: list[str]) -> bool:
    """Enqueue one task for these messages.

    If the broker is unreachable the messages are marked undispatched, so the sweep sends
    them as soon as it can; returns False then.
    """
    from conversations.services.delivery import mark_undispatched
    from conversations.tasks import deliver_messages

    try:
        deliver_messages.apply_async(args=[message_ids], headers={"_schema_name": schema_name})
    except Exception:
        logger.warning(
            "broker unreachable; the outbox sweep will dispatch the messages",
            extra={"schema": schema_name, "count": len(message_ids)},
            exc_info=True,
        )
        try:
            with schema_context(schema_name):
                mark_undispatched(message_ids)
        except Exception:  # the database is gone too: they are found after the interval
            logger.exception("could not mark messages for the sweep")
        return False
    return True


class DeliveryDispatcher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def submit(self, schema_name: str, message_id: str) -> None:
        if not settings.ENGIUM_DISPATCH_IN_BACKGROUND:
            publish_batch(schema_name, [message_id])
            return
        self._ensure_thread()
        self._queue.put((schema_name, message_id))

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's queue and thread are not ours
                self._queue = queue.SimpleQueue()
                self._thread = None
                self._pid = os.getpid()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="engium-delivery-dispatcher", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            deadline = time.monotonic() + settings.ENGIUM_DISPATCH_WINDOW_MS / 1000
            while len(batch) < MAX_BATCH:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=remaining))
                except queue.Empty:
                    break
            self._publish(batch)

    def _drain(self, batch: list[tuple[str, str]]) -> list[tuple[str, str]]:
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _publish(self, batch: list[tuple[str, str]]) -> None:
        by_schema: dict[str, list[str]] = defaultdict(list)
        for schema_name, message_id in batch:
            by_schema[schema_name].append(message_id)
        for schema_name, message_ids in by_schema.items():
            publish_batch(schema_name, message_ids)

    def flush(self) -> None:
        """Publish whatever is queued now, in the calling thread (at exit, and in tests)."""
        if self._pid == os.getpid():
            self._publish(self._drain([]))


dispatcher = DeliveryDispatcher()
submit_delivery = dispatcher.submit
atexit.register(dispatcher.flush)
