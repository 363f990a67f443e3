"""Raising events and fanning them out to endpoints, in the caller's transaction.

Call `raise_event` inside the transaction that makes the change the event describes: the
event and one delivery per subscribed, enabled endpoint are written by one statement, so
they exist exactly when the change committed. The deliveries' tasks are published after
commit (`engium.outbox.submit`); a lost publish is found by the sweep.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from engium import outbox
from engium.tenancy import current_schema
from webhooks.models import ALL_EVENTS, Delivery, Endpoint, Event, EventType

# The task of `webhooks.tasks`, published by name (services never import tasks).
SEND_DELIVERIES = "webhooks.send_deliveries"

# Every column of a delivery row written by the fan-out, from a row ``event`` with
# ``id``, ``type``, ``subject_id`` and ``created_at`` joined to a row ``endpoint``.
DELIVERY_VALUES = {
    "endpoint_id": "endpoint.id",
    "event_id": "event.id",
    "subject_id": "event.subject_id",
    "status": "'pending'",
    "attempts": "0",
    "next_attempt_at": "event.created_at",
    "dispatched_at": "event.created_at",
    "claimed_until": "NULL",
    "created_at": "event.created_at",
    "updated_at": "event.created_at",
}


def fan_out_sql(events: str) -> str:
    """An INSERT of one delivery per enabled endpoint subscribed to each row of ``events``.

    ``events`` is SQL yielding ``id, type, subject_id, created_at``. Returns the new
    deliveries' ``id``. With no endpoint it inserts nothing and costs an empty scan, so the
    send stays one statement whether a tenant has endpoints or not.
    """
    columns = [f.column for f in Delivery._meta.concrete_fields if f.column in DELIVERY_VALUES]
    values = ", ".join(DELIVERY_VALUES[column] for column in columns)
    return (
        f"INSERT INTO {Delivery._meta.db_table} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {values} FROM {Endpoint._meta.db_table} AS endpoint "
        f"JOIN ({events}) AS event ON endpoint.enabled "
        f"AND (endpoint.events ? event.type OR endpoint.events ? '{ALL_EVENTS}') "
        "RETURNING id"
    )


_RAISE_SQL = (
    f"WITH event AS (INSERT INTO {Event._meta.db_table} (id, type, data, created_at) "  # noqa: S608
    "VALUES (%(id)s, %(type)s, %(data)s::jsonb, %(at)s) "
    "RETURNING id, type, %(subject_id)s::text AS subject_id, created_at) "
    + fan_out_sql("SELECT * FROM event")
)


def raise_event(event_type: EventType, data: dict[str, Any]) -> Event:
    """Record an event and its deliveries; call inside the change's transaction.

    The event's subject (for per-subject ordering) is the object it describes, ``data["id"]``.
    """
    event = Event(type=event_type, data=data, created_at=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            _RAISE_SQL,
            {
                "id": event.id,
                "type": event.type,
                "data": json.dumps(data),
                "at": event.created_at,
                "subject_id": str(data.get("id") or ""),
            },
        )
        delivery_ids = [row[0] for row in cursor.fetchall()]
    event._state.adding = False
    dispatch_new_deliveries(delivery_ids)
    return event


_RAISE_MANY_SQL = (
    f"WITH event AS (INSERT INTO {Event._meta.db_table} (id, type, data, created_at) "  # noqa: S608
    "SELECT e.id, %(type)s, e.data, %(at)s "
    "FROM jsonb_to_recordset(%(events)s::jsonb) AS e(id text, data jsonb, ord int) ORDER BY e.ord "
    "RETURNING id, type, COALESCE(data->>'id', '') AS subject_id, created_at) "
    + fan_out_sql("SELECT * FROM event")
)


def raise_events(event_type: EventType, payloads: list[dict[str, Any]]) -> list[Event]:
    """`raise_event` for several subjects at once, in one statement (in the given order)."""
    if len(payloads) < 2:
        return [raise_event(event_type, data) for data in payloads]
    now = timezone.now()
    events = [Event(type=event_type, data=data, created_at=now) for data in payloads]
    rows = [{"id": event.id, "data": event.data, "ord": n} for n, event in enumerate(events)]
    with connection.cursor() as cursor:
        cursor.execute(_RAISE_MANY_SQL, {"type": event_type, "at": now, "events": json.dumps(rows)})
        delivery_ids = sorted(row[0] for row in cursor.fetchall())
    for event in events:
        event._state.adding = False
    dispatch_new_deliveries(delivery_ids)
    return events


def dispatch_new_deliveries(delivery_ids: list[int]) -> None:
    """Publish the tasks of freshly written deliveries once their transaction commits."""
    if not delivery_ids:
        return
    schema = current_schema()

    def publish() -> None:
        for delivery_id in delivery_ids:
            outbox.submit(
                SEND_DELIVERIES,
                schema=schema,
                item_id=str(delivery_id),
                if_unpublished=mark_undispatched,
            )

    transaction.on_commit(publish)


def mark_undispatched(delivery_ids: list[str]) -> None:
    """Their task could not be published: the next sweep dispatches them at once."""
    Delivery.objects.filter(pk__in=[int(i) for i in delivery_ids], claimed_until=None).update(
        dispatched_at=None
    )
