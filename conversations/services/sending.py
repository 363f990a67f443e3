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
import threading
from collections import defaultdict
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context

from conversations.services import delivery
from engium import recorder as recorders
from engium.tenancy import current_schema

logger = logging.getLogger(__name__)

#: A batch whose sends all have their answers: its schema, attempts, ``then``, and how many
#: sends it started.
Landed = tuple[str, list[delivery.Attempt], Callable[[], object], int]


class Recorder(recorders.Recorder[Landed]):
    """One per worker process (a fork starts its own): the sends in flight, and their records."""

    thread_name = "engium-delivery-recorder"

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
        self.started(len(sending))
        left = [len(sending)]
        lock = threading.Lock()

        def sent(_: object) -> None:
            with lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                self.land((schema, attempts, then, len(sending)))

        pool = delivery.sender_pool()
        for attempt in sending:
            pool.submit(attempt.send).add_done_callback(sent)
        return len(sending)

    def weight(self, item: Landed) -> int:
        return item[3]

    def record(self, landed: list[Landed]) -> None:
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
