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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field, Model, Q
from django.utils import timezone

from engium import outbox
from engium.postgresql import prepared_cursor
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

M = TypeVar("M", bound=Model)


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


#: The claim, in one statement (`_claim`). ``candidate`` locks the given deliveries that
#: are pending, due and of an enabled endpoint (``SKIP LOCKED``: a row another worker is
#: claiming is its own); ``free`` drops those held back behind an earlier delivery of the
#: same endpoint and subject that is pending and not yet tried or in flight, and numbers the
#: rest per endpoint; ``in_flight`` counts each endpoint's live leases (pending rows only, so
#: the partial index ``delivery_pending_by_subject`` serves it, however many deliveries the
#: endpoint has finished); ``chosen`` keeps what fits under the endpoint's cap; ``taken``
#: leases those; ``released`` (when asked) hands the rest back to the sweep. The answer is
#: every candidate, oldest first, with its event and endpoint when it was taken.
_CLAIM_SQL = """
WITH candidate AS (
    SELECT d.id, d.endpoint_id, d.subject_id
    FROM webhooks_delivery d
    JOIN webhooks_endpoint e ON e.id = d.endpoint_id
    WHERE d.id = ANY(%(ids)s::bigint[])
      AND d.status = 'pending'
      AND d.next_attempt_at <= %(now)s
      AND e.enabled
    ORDER BY d.id
    FOR UPDATE OF d SKIP LOCKED
), free AS (
    SELECT c.id, c.endpoint_id,
           row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.id) AS nth
    FROM candidate c
    WHERE c.subject_id = '' OR NOT EXISTS (
        SELECT 1 FROM webhooks_delivery p
        WHERE p.endpoint_id = c.endpoint_id
          AND p.subject_id = c.subject_id
          AND p.id < c.id
          AND p.status = 'pending'
          AND (p.attempts = 0 OR p.claimed_until > %(now)s)
    )
), in_flight AS (
    SELECT d.endpoint_id, count(*) AS n
    FROM webhooks_delivery d
    WHERE d.endpoint_id IN (SELECT endpoint_id FROM free)
      AND d.status = 'pending'
      AND d.claimed_until > %(now)s
    GROUP BY d.endpoint_id
), chosen AS (
    SELECT f.id
    FROM free f LEFT JOIN in_flight i ON i.endpoint_id = f.endpoint_id
    WHERE f.nth + coalesce(i.n, 0) <= %(cap)s
), taken AS (
    UPDATE webhooks_delivery d
    SET attempts = d.attempts + 1,
        claimed_until = %(lease)s,
        next_attempt_at = %(lease)s,
        dispatched_at = %(lease)s,
        updated_at = %(now)s
    WHERE d.id IN (SELECT id FROM chosen)
    RETURNING {delivery}
), released AS (
    UPDATE webhooks_delivery d
    SET dispatched_at = NULL
    WHERE %(release)s
      AND d.id IN (SELECT id FROM candidate)
      AND d.id NOT IN (SELECT id FROM chosen)
      AND d.claimed_until IS NULL
    RETURNING d.id
)
SELECT c.id, c.endpoint_id, t.id IS NOT NULL, {taken}, {event}, {endpoint}
FROM candidate c
LEFT JOIN taken t ON t.id = c.id
LEFT JOIN webhooks_event ev ON ev.id = t.event_id
LEFT JOIN webhooks_endpoint e ON e.id = t.endpoint_id
ORDER BY c.id
"""


def _columns(model: type[Model]) -> list[Field[Any, Any]]:
    return list(model._meta.concrete_fields)


@cache
def _claim_sql() -> str:
    def listed(alias: str, model: type[Model]) -> str:
        return ", ".join(f"{alias}.{f.column}" for f in _columns(model))

    return _CLAIM_SQL.format(
        delivery=listed("d", Delivery),
        taken=listed("t", Delivery),
        event=listed("ev", Event),
        endpoint=listed("e", Endpoint),
    )


def _from_row(model: type[M], values: Sequence[Any]) -> M:
    """A model instance from its columns as the database gave them (each field's own
    conversions applied: JSON, and the endpoint's secrets decrypted)."""
    fields = _columns(model)
    converted = []
    for field, value in zip(fields, values, strict=True):
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column)
        converters += field.get_db_converters(connection)  # type: ignore[attr-defined]
        for converter in converters:
            value = converter(value, column, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


def _claim(ids: list[int], *, release_held: bool = False) -> tuple[list[Claimed], list[Delivery]]:
    """Claim those of ``ids`` that are pending, due, free and under their endpoint's cap:
    one statement (`_CLAIM_SQL`), prepared once per connection. Returns the claimed, with
    their events and endpoints, and the held back (order, or the endpoint's cap); with
    ``release_held``, the held back are also left to the sweep (`leave_to_the_sweep`) in
    the same statement."""
    if not ids:
        return [], []
    now = timezone.now()
    lease = now + timedelta(seconds=settings.ENGIUM_WEBHOOK_LEASE_SECONDS)
    params = {
        "ids": ids,
        "now": now,
        "lease": lease,
        "cap": settings.ENGIUM_WEBHOOK_ENDPOINT_CONCURRENCY,
        "release": release_held,
    }
    with prepared_cursor() as cursor:
        cursor.execute(_claim_sql(), params)
        rows = cursor.fetchall()
    n_delivery, n_event = len(_columns(Delivery)), len(_columns(Event))
    held_back: list[Delivery] = []
    claimed: list[Claimed] = []
    events: dict[str, tuple[Event, bytes]] = {}
    endpoints: dict[str, Endpoint] = {}
    for row in rows:
        pk, endpoint_id, taken = row[0], row[1], row[2]
        if not taken:
            held = Delivery(pk=pk, endpoint_id=endpoint_id)
            held._state.adding = False
            held_back.append(held)
            continue
        rest = row[3:]
        delivery_row = _from_row(Delivery, rest[:n_delivery])
        event_values = rest[n_delivery : n_delivery + n_event]
        if event_values[0] not in events:
            event = _from_row(Event, event_values)
            events[event.pk] = (event, event_body(event))
        event, body = events[event_values[0]]
        if endpoint_id not in endpoints:
            endpoints[endpoint_id] = _from_row(Endpoint, rest[n_delivery + n_event :])
        delivery_row.event = event
        claimed.append(Claimed(delivery_row, endpoints[endpoint_id], event, body))
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


#: Schemas per probe statement (`schemas_with_due_deliveries`).
PROBE_CHUNK = 500


def schemas_with_due_deliveries(schemas: list[str], *, now: datetime | None = None) -> set[str]:
    """Which of ``schemas`` have a delivery `dispatch_due_deliveries` would publish: one
    statement per `PROBE_CHUNK` schemas (an indexed ``EXISTS`` each, on ``delivery_due``),
    so the sweep visits only those instead of every tenant every second."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.ENGIUM_WEBHOOK_REDISPATCH_AFTER_SECONDS)
    table = connection.ops.quote_name(Delivery._meta.db_table)
    due: set[str] = set()
    for start in range(0, len(schemas), PROBE_CHUNK):
        chunk = schemas[start : start + PROBE_CHUNK]
        probes = " UNION ALL ".join(
            f"SELECT %(s{n})s::text WHERE EXISTS (SELECT 1 FROM "  # noqa: S608 (quoted names)
            f"{connection.ops.quote_name(schema)}.{table} WHERE next_attempt_at <= %(now)s "
            "AND status = 'pending' AND (dispatched_at IS NULL OR dispatched_at <= %(stale)s))"
            for n, schema in enumerate(chunk)
        )
        params: dict[str, Any] = {f"s{n}": schema for n, schema in enumerate(chunk)}
        params.update(now=now, stale=stale)
        with connection.cursor() as cursor:
            cursor.execute(probes, params)
            due.update(row[0] for row in cursor.fetchall())
    return due


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
