"""A worker's way of delivering: claim and prepare, start the HTTP sends, return; record aside.

A delivery task that waited for its provider held its worker process for the provider's
whole round trip (50 ms, or up to ``ENGIUM_PROVIDER_TIMEOUT_SECONDS``), so a process
delivered one batch at a time, and at a steady rate of sends (one or two per batch) the
processes ran out long before the CPU did. Here the task claims and prepares its batch
(`delivery.prepare_batch`, on its own thread, which alone touches its connection), starts
the sends of the adapters that are pure HTTP (`Provider.sends_concurrently`) on the
process's sender threads (`delivery.sender_pool`), and returns: the process takes its next
task while the provider answers. When the last send of a batch has its answer, the batch
goes to the process's `Recorder`, a thread with its own database connection, which records
it (`delivery.record_batch`) in the batch's schema and then runs the batch's ``then``
(the tenant's next dispatch). Webhook deliveries work the same way
(`webhooks.services.sending`).

Nothing is lost by returning early, and nothing is sent twice: the message rows are the
outbox. A claimed message keeps its lease until its outcome is recorded; if the process
dies first, the lease expires, the message is dispatched again, and its unknown outcome is
looked up at the provider before anything is sent (`delivery.deliver_batch`). A worker
process stopping normally first records what it started (`drain`, from
`conversations.tasks`).

A batch whose adapters are not pure HTTP (the sandbox writes its reports to the database)
is sent and recorded on the task's thread, as `deliver_batch` does.

Back-pressure: a task waits while its process has more than ``ENGIUM_DELIVERY_SENDERS``
sends started and not yet recorded, so a busy process leaves the queue's next tasks to the
other processes and a send never waits for a thread.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections import defaultdict
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context

from conversations.services import delivery
from engium.tenancy import current_schema

logger = logging.getLogger(__name__)

#: A batch whose sends all have their answers: its schema, attempts, ``then``, and how many
#: sends it started.
Landed = tuple[str, list[delivery.Attempt], Callable[[], object], int]


class Recorder:
    """One per worker process (a fork starts its own): the sends in flight, and their records."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._queue: queue.SimpleQueue[Landed] = queue.SimpleQueue()
        self._in_flight = 0
        self._thread: threading.Thread | None = None
        self._pid = 0

    @property
    def in_flight(self) -> int:
        """Sends started by this process and not yet recorded."""
        return self._in_flight

    def start(
        self, schema: str, attempts: list[delivery.Attempt], then: Callable[[], object]
    ) -> int:
        """Start the sends of ``attempts`` that are pure HTTP on the sender threads; the whole
        batch is recorded on the recorder's thread once they have their answers. The others
        must be settled already (sent here, or ended with an error or an earlier send).
        Returns how many sends were started."""
        sending = [attempt for attempt in attempts if attempt.sends_concurrently]
        assert sending and not any(
            attempt.ready for attempt in attempts if attempt not in sending
        ), "start takes batches with HTTP sends, the others settled"
        self._ensure_thread()
        with self._changed:
            self._in_flight += len(sending)
        left = [len(sending)]
        lock = threading.Lock()

        def sent(_: object) -> None:
            with lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                self._queue.put((schema, attempts, then, len(sending)))

        pool = delivery.sender_pool()
        for attempt in sending:
            pool.submit(attempt.send).add_done_callback(sent)
        return len(sending)

    def wait_for_room(self, limit: int) -> None:
        """Block while more than ``limit`` sends are in flight in this process."""
        self._ensure_thread()
        with self._changed:
            self._changed.wait_for(lambda: self._in_flight <= max(limit, 0))

    def drain(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) until everything started here is recorded."""
        if self._pid != os.getpid():
            return True  # nothing was started in this process
        with self._changed:
            return self._changed.wait_for(lambda: self._in_flight == 0, timeout)

    def _ensure_thread(self) -> None:
        with self._changed:
            if self._pid != os.getpid():  # forked: the parent's queue and counts are not ours
                self._queue, self._in_flight, self._thread = queue.SimpleQueue(), 0, None
                self._pid = os.getpid()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="engium-delivery-recorder", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            landed = [self._queue.get()]
            while True:  # every batch that landed meanwhile is recorded with it
                try:
                    landed.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            by_schema: dict[str, list[Landed]] = defaultdict(list)
            for batch in landed:
                by_schema[batch[0]].append(batch)
            for schema, batches in by_schema.items():
                try:
                    with schema_context(schema):
                        delivery.record_batch(
                            [attempt for _, attempts, _, _ in batches for attempt in attempts]
                        )
                        for then in dict.fromkeys(then for _, _, then, _ in batches):
                            then()
                except Exception:
                    # Unrecorded: the leases expire, and the outcomes are looked up at the
                    # providers before anything is sent again.
                    logger.exception("could not record a delivery batch", extra={"schema": schema})
                    connection.close()  # a broken connection is replaced on next use
                finally:
                    with self._changed:
                        self._in_flight -= sum(started for _, _, _, started in batches)
                        self._changed.notify_all()


recorder = Recorder()


def wait_for_room(count: int) -> None:
    """Before claiming ``count`` messages: wait while this process has its fill of sends."""
    recorder.wait_for_room(settings.ENGIUM_DELIVERY_SENDERS - count)


def start_batch(message_ids: list[str], *, then: Callable[[], object]) -> int:
    """Deliver a batch without waiting for the providers (see above); ``then`` runs in this
    schema once the batch is recorded. Returns how many messages were attempted."""
    wait_for_room(len(message_ids))
    return start_attempts(delivery.prepare_batch(message_ids), then=then)


def start_attempts(attempts: list[delivery.Attempt], *, then: Callable[[], object]) -> int:
    """`start_batch` for a prepared batch."""
    if not any(attempt.sends_concurrently for attempt in attempts):
        # Nothing to wait for at an HTTP provider: as `deliver_batch` does.
        delivery.send_and_record(attempts)
        then()
        return len(attempts)
    for attempt in attempts:
        if attempt.ready and not attempt.sends_concurrently:
            attempt.send()  # the sandbox, in a batch that mixes providers
    recorder.start(current_schema(), attempts, then)
    return len(attempts)


def drain(timeout: float) -> bool:
    """Wait until this process's started sends are recorded (a worker stopping)."""
    return recorder.drain(timeout)
