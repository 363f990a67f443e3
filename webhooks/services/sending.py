"""The worker's way of sending: claim, start the POSTs, return; record the outcomes aside.

A `webhooks.send_deliveries` task only claims its deliveries (`delivery._claim`, one
statement) and puts their requests on the process's sender loop (`webhooks.sender`);
it returns as soon as they are started, so the worker process takes its next task while
the endpoints answer, instead of waiting 50 ms or 15 s for the slowest of its batch. The
answers land on the process's `Recorder`, a thread with its own database connection that
records them in groups (`delivery._record`: attempts in one INSERT, successes in one
UPDATE), and then starts at once what a recorded delivery held back in this process (the
next event of the same subject, or what waited for the endpoint's cap).

Nothing is lost by returning early: the delivery rows are the outbox. A claimed delivery
keeps its lease (``claimed_until``, ``next_attempt_at``) until its outcome is recorded; if
the process dies first, the lease expires and the sweep publishes it again (the endpoint
may then get it twice, with the same ``webhook-id``). A worker stopping normally drains
first (`drain`, from `webhooks.tasks`). Held-back deliveries are left to the sweep as
before (``dispatched_at`` NULL), so the prompt start here only shortens their wait.

Back-pressure: a task waits while the process has more than
``ENGIUM_WEBHOOK_WORKER_IN_FLIGHT`` deliveries started and not yet recorded, so a busy
process leaves the queue's next tasks to the other processes.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict, defaultdict

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from engium import outbox
from engium import recorder as recorders
from engium.tenancy import current_schema
from webhooks.models import Delivery, DeliveryStatus
from webhooks.network import AttemptResult
from webhooks.sender import sender
from webhooks.services import delivery
from webhooks.services.events import SEND_DELIVERIES, mark_undispatched

logger = logging.getLogger(__name__)

#: Deliveries remembered per endpoint as held back in this process, and endpoints with
#: some (the sweep has them all; this only makes their start prompt).
MAX_WAITING = 1000
MAX_WAITING_ENDPOINTS = 10_000

Landed = tuple[str, delivery.Claimed, AttemptResult]


class Recorder(recorders.Recorder[Landed]):
    """One per worker process (a fork starts its own): what is in flight, and its records."""

    thread_name = "engium-webhooks-recorder"

    def __init__(self) -> None:
        super().__init__()
        # (schema, endpoint ID) → IDs held back in this process, oldest first
        self._waiting: dict[tuple[str, str], OrderedDict[int, None]] = defaultdict(OrderedDict)

    def start(self, schema: str, claimed: list[delivery.Claimed]) -> None:
        """Start the claimed deliveries' POSTs; their outcomes are recorded on this thread."""
        if not claimed:
            return
        self.started(len(claimed))
        sender.start(
            [delivery.request_for(item) for item in claimed],
            lambda item, result: self.land((schema, item, result)),
        )

    def hold(self, schema: str, held_back: list[Delivery]) -> None:
        """Remember deliveries held back here, to start them when this process frees them."""
        self._ensure_thread()
        with self._changed:
            for row in held_back:
                waiting = self._waiting[(schema, row.endpoint_id)]
                waiting[row.pk] = None
                while len(waiting) > MAX_WAITING:
                    waiting.popitem(last=False)
            while len(self._waiting) > MAX_WAITING_ENDPOINTS:
                del self._waiting[next(iter(self._waiting))]

    def forked(self) -> None:
        self._waiting.clear()

    def record(self, landed: list[Landed]) -> None:
        by_schema: dict[str, list[tuple[delivery.Claimed, AttemptResult]]] = defaultdict(list)
        for schema, item, result in landed:
            by_schema[schema].append((item, result))
        for schema, group in by_schema.items():
            try:
                with schema_context(schema):
                    delivery._record(group)
                    self._start_waiting(schema, Counter(i.endpoint.pk for i, _ in group))
            except Exception:
                # Unrecorded: the leases expire and the sweep sends them again.
                logger.exception("could not record webhook attempts", extra={"schema": schema})
                connection.close()  # a broken connection is replaced on next use

    def _start_waiting(self, schema: str, freed: Counter[str]) -> None:
        """Publish, for each endpoint just recorded, as many of its held-back deliveries
        as it freed (they are claimed again by whichever process takes the task)."""
        ids: list[int] = []
        with self._changed:
            for endpoint_id, count in freed.items():
                waiting = self._waiting.get((schema, endpoint_id))
                while waiting and count:
                    ids.append(waiting.popitem(last=False)[0])
                    count -= 1
                if waiting is not None and not waiting:
                    del self._waiting[(schema, endpoint_id)]
        if not ids:
            return
        # Recorded as dispatched, so the sweep does not publish them a second time.
        Delivery.objects.filter(
            pk__in=ids, status=DeliveryStatus.PENDING, claimed_until=None
        ).update(dispatched_at=timezone.now())
        outbox.publish_each(
            SEND_DELIVERIES,
            schema=schema,
            item_ids=[str(i) for i in ids],
            if_unpublished=mark_undispatched,
            batch=delivery.BATCH,
        )


recorder = Recorder()


def start_deliveries(delivery_ids: list[str]) -> int:
    """Claim those of ``delivery_ids`` that are due and free, and start sending them;
    returns how many were started. Their outcomes are recorded by the `Recorder`."""
    limit = settings.ENGIUM_WEBHOOK_WORKER_IN_FLIGHT
    recorder.wait_for_room(limit - len(delivery_ids))
    # The held back are left to the sweep by the claim's own statement.
    claimed, held_back = delivery._claim([int(i) for i in delivery_ids], release_held=True)
    if held_back:
        recorder.hold(current_schema(), held_back)
    recorder.start(current_schema(), claimed)
    return len(claimed)


def drain(timeout: float) -> bool:
    """Wait until this process's started deliveries are recorded (a worker stopping)."""
    return recorder.drain(timeout)
