"""Delivering events to endpoints: claim due deliveries, POST them concurrently, record.

A delivery row is its own outbox entry, as a message is: ``next_attempt_at`` says when an
attempt is due (retries are scheduled there, never as broker countdowns), ``dispatched_at``
when a task for it was last published, and ``claimed_until`` the lease of the worker
sending it. `dispatch_due_deliveries` (beat, every second) publishes what is due and has no
live task, so a restart of the broker or of workers loses nothing. Duplicate tasks are
harmless: a delivery is claimed with ``FOR UPDATE SKIP LOCKED`` before it is sent.

Fairness: each task sends one tenant's batch, and the HTTP requests of a batch run
concurrently (`webhooks.sender`), recorded in groups as they complete, so a slow endpoint
delays neither its batch neighbours nor other tenants; at most
``ENGIUM_WEBHOOK_ENDPOINT_CONCURRENCY`` deliveries per endpoint are in flight across all
workers. Order: a delivery waits while an
earlier one for the same endpoint and subject (message or conversation) is in flight or
not yet tried, so a healthy endpoint gets one message's events in the order they happened.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from engium import outbox
from engium.tenancy import current_schema
from engium.timestamps import iso_time
from webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint, Event
from webhooks.network import AttemptResult
from webhooks.sender import Request, sender
from webhooks.services.events import SEND_DELIVERIES, mark_undispatched
from webhooks.services.secrets import secrets_in_use
from webhooks.signing import signature_header

logger = logging.getLogger(__name__)

#: Deliveries per task: the outbox's batch, and the sweep's chunks.
BATCH = outbox.MAX_BATCH
#: Rounds per task: a delivery held back behind an earlier one of its subject, or because
#: its endpoint had its fill of requests in flight, may go in the next round.
ROUNDS = 3


@dataclass
class Claimed:
    delivery: Delivery
    endpoint: Endpoint
    event: Event
    body: bytes


def event_body(event: Event) -> bytes:
    """The request body: ``{"type", "timestamp", "data"}``, the same on every attempt.

    UTF-8 rather than ASCII escapes: a message of 4096 emoji stays under 20 KB.
    """
    return json.dumps(
        {"type": event.type, "timestamp": iso_time(event.created_at), "data": event.data},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def send_deliveries(delivery_ids: list[str]) -> int:
    """Send those of ``delivery_ids`` that are due and free; returns how many were attempted.

    Each attempt is logged and its outcome recorded (success, retry or failure) as soon as
    its answer is in. Deliveries still held back after the last round are left to the sweep.
    """
    ids = [int(i) for i in delivery_ids]
    attempted = 0
    for _ in range(ROUNDS):
        claimed, held_back = _claim(ids)
        for landed in sender.send([request_for(item) for item in claimed]):
            _record(landed)
        attempted += len(claimed)
        if not held_back:
            return attempted
        ids = [row.pk for row in held_back]
        if not claimed:  # waiting on other workers' requests: the sweep comes back for these
            break
    leave_to_the_sweep(ids)
    return attempted


def leave_to_the_sweep(ids: list[int]) -> None:
    """Held back (order, or the endpoint's cap): due at once, with no live task."""
    Delivery.objects.filter(pk__in=ids, claimed_until=None).update(dispatched_at=None)


def request_for(item: Claimed) -> Request[Claimed]:
    return Request(item, item.endpoint.url, _headers(item), item.body)


def _claim(ids: list[int]) -> tuple[list[Claimed], list[Delivery]]:
    now = timezone.now()
    lease = now + timedelta(seconds=settings.ENGIUM_WEBHOOK_LEASE_SECONDS)
    earlier = (
        Delivery.objects.filter(
            endpoint_id=OuterRef("endpoint_id"),
            subject_id=OuterRef("subject_id"),
            id__lt=OuterRef("id"),
            status=DeliveryStatus.PENDING,
        )
        .exclude(subject_id="")
        .filter(Q(attempts=0) | Q(claimed_until__gt=now))
    )
    with transaction.atomic():
        rows: list[Delivery] = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                pk__in=ids,
                status=DeliveryStatus.PENDING,
                next_attempt_at__lte=now,
                endpoint__enabled=True,
            )
            .annotate(held_back=Exists(earlier))
            .select_related("event")  # its body, in the same round trip
            .order_by("id")
        )
        held_back = [row for row in rows if row.held_back]  # type: ignore[attr-defined]
        free = [row for row in rows if not row.held_back]  # type: ignore[attr-defined]
        in_flight = Counter(
            dict(
                Delivery.objects.filter(
                    endpoint_id__in={row.endpoint_id for row in free}, claimed_until__gt=now
                )
                .values_list("endpoint_id")
                .annotate(n=Count("id"))
                .values_list("endpoint_id", "n")
            )
        )
        taken = []
        for row in free:
            if in_flight[row.endpoint_id] < settings.ENGIUM_WEBHOOK_ENDPOINT_CONCURRENCY:
                in_flight[row.endpoint_id] += 1
                taken.append(row)
            else:  # the endpoint has its fill: the next round (or the sweep) takes it
                held_back.append(row)
        if not taken:
            return [], held_back
        Delivery.objects.filter(pk__in=[row.pk for row in taken]).update(
            attempts=F("attempts") + 1,
            claimed_until=lease,
            next_attempt_at=lease,
            dispatched_at=lease,
            updated_at=now,
        )
    # One query for the batch's endpoints (their secrets are decrypted once each).
    endpoints = Endpoint.objects.in_bulk({row.endpoint_id for row in taken})
    bodies: dict[str, bytes] = {}
    claimed = []
    for row in taken:
        row.attempts += 1
        row.claimed_until = lease
        event = row.event
        if event.pk not in bodies:
            bodies[event.pk] = event_body(event)
        claimed.append(Claimed(row, endpoints[row.endpoint_id], event, bodies[event.pk]))
    return claimed, held_back


def _headers(item: Claimed) -> dict[str, str]:
    timestamp = int(time.time())
    return {
        "content-type": "application/json",
        "user-agent": "Engium-Webhooks/1",
        "webhook-id": item.event.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(
            secrets_in_use(item.endpoint),
            msg_id=item.event.id,
            timestamp=timestamp,
            body=item.body,
        ),
    }


def retry_delay(attempts: int, result: AttemptResult) -> float | None:
    """Seconds until the next attempt after ``attempts`` attempts, or None: give up."""
    schedule = settings.ENGIUM_WEBHOOK_RETRY_SCHEDULE
    if attempts > len(schedule):
        return None
    if result.status_code in (429, 503) and result.retry_after is not None:
        return min(result.retry_after, settings.ENGIUM_WEBHOOK_RETRY_AFTER_MAX_SECONDS)
    return float(schedule[attempts - 1]) * random.uniform(0.8, 1.2)


def _record(landed: list[tuple[Claimed, AttemptResult]]) -> None:
    """Log the attempts and record their outcomes, a group at a time (one transaction)."""
    now = timezone.now()
    succeeded = [item for item, result in landed if result.succeeded]
    with transaction.atomic():
        Attempt.objects.bulk_create(
            Attempt(
                delivery=item.delivery,
                attempted_at=now - timedelta(milliseconds=result.duration_ms),
                status_code=result.status_code,
                duration_ms=result.duration_ms,
                response=result.response,
                error=result.error[:500],
                succeeded=result.succeeded,
            )
            for item, result in landed
        )
        # A claim's rows share its lease; the lease check skips a row claimed again since.
        by_lease: dict[datetime | None, list[int]] = {}
        for item in succeeded:
            by_lease.setdefault(item.delivery.claimed_until, []).append(item.delivery.pk)
        for lease, ids in by_lease.items():
            Delivery.objects.filter(pk__in=ids, claimed_until=lease).update(
                status=DeliveryStatus.SUCCEEDED,
                next_attempt_at=None,
                dispatched_at=None,
                claimed_until=None,
                updated_at=now,
            )
        recovered = {item.endpoint.pk for item in succeeded if item.endpoint.failing_since}
        if recovered:
            Endpoint.objects.filter(pk__in=recovered).update(failing_since=None)
        for item, result in landed:
            if not result.succeeded:
                _record_failure(item, result, now)


def _record_failure(item: Claimed, result: AttemptResult, now: datetime) -> None:
    delivery, endpoint = item.delivery, item.endpoint
    done = Delivery.objects.filter(pk=delivery.pk, claimed_until=delivery.claimed_until)
    if result.status_code == 410:
        done.update(
            status=DeliveryStatus.FAILED, next_attempt_at=None, claimed_until=None, updated_at=now
        )
        disable_endpoint(endpoint.pk, reason="The endpoint answered 410 Gone.")
        return
    delay = retry_delay(delivery.attempts, result)
    if delay is None:
        done.update(
            status=DeliveryStatus.FAILED, next_attempt_at=None, claimed_until=None, updated_at=now
        )
    else:
        # No task now: the sweep publishes it once due (retries live in the database).
        done.update(
            next_attempt_at=now + timedelta(seconds=delay),
            dispatched_at=None,
            claimed_until=None,
            updated_at=now,
        )
    _note_failure(endpoint, now)


def _note_failure(endpoint: Endpoint, now: datetime) -> None:
    if endpoint.failing_since is None:
        Endpoint.objects.filter(pk=endpoint.pk, failing_since=None).update(failing_since=now)
        return
    failing_for = (now - endpoint.failing_since).total_seconds()
    if failing_for >= settings.ENGIUM_WEBHOOK_DISABLE_AFTER_SECONDS:
        disable_endpoint(
            endpoint.pk,
            reason=f"Every delivery failed for {round(failing_for / 86400, 1)} days.",
        )


def disable_endpoint(endpoint_id: str, *, reason: str) -> None:
    """Disable an endpoint and park its pending deliveries (resumed when it is enabled)."""
    with transaction.atomic():
        Endpoint.objects.filter(pk=endpoint_id).update(
            enabled=False, disabled_reason=reason[:200], updated_at=timezone.now()
        )
        Delivery.objects.filter(
            endpoint_id=endpoint_id, status=DeliveryStatus.PENDING, claimed_until=None
        ).update(next_attempt_at=None, dispatched_at=None)
    logger.warning("webhook endpoint disabled", extra={"endpoint": endpoint_id, "reason": reason})


def dispatch_due_deliveries(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Publish tasks for the current tenant's due deliveries that have no live task.

    Due and never published (``dispatched_at`` NULL: a retry, or a failed publish), or
    published longer than ``ENGIUM_WEBHOOK_REDISPATCH_AFTER_SECONDS`` ago (the task was
    lost). The dispatch is recorded first, so one sweep publishes a delivery at most once.
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.ENGIUM_WEBHOOK_REDISPATCH_AFTER_SECONDS)
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(next_attempt_at__lte=now, status=DeliveryStatus.PENDING)
            .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=stale))
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return 0
        Delivery.objects.filter(pk__in=ids).update(dispatched_at=now)
    return outbox.publish_each(
        SEND_DELIVERIES,
        schema=current_schema(),
        item_ids=[str(i) for i in ids],
        if_unpublished=mark_undispatched,
        batch=BATCH,
    )


def purge_deliveries(*, now: datetime | None = None) -> int:
    """Delete attempts, and finished deliveries, older than the retention period."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ENGIUM_WEBHOOK_RETENTION_DAYS)
    attempts, _ = Attempt.objects.filter(attempted_at__lt=cutoff).delete()
    deliveries, _ = (
        Delivery.objects.filter(updated_at__lt=cutoff)
        .exclude(status=DeliveryStatus.PENDING)
        .delete()
    )
    return attempts + deliveries
