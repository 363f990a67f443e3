"""Fair delivery across tenants: each tenant's messages go to the workers a bounded batch at a time.

All tenants share the ``delivery`` queue, which is first in, first out. If every accepted
message became a task at once, one tenant's burst would stand in the queue ahead of every
other tenant's next message. So the queue holds at most ``ENGIUM_DELIVERY_TENANT_IN_FLIGHT``
messages of a tenant (in tasks of ``ENGIUM_DELIVERY_BATCH``), and the rest wait in the
database, where they already are: the message row is its own outbox entry.

A pending message (``queued`` or ``sending`` with ``next_attempt_at`` set) is

- *waiting* while ``dispatched_at`` is NULL: the send writes it so, a retry puts it back so;
- *in flight* while ``dispatched_at`` is later than ``ENGIUM_REDISPATCH_AFTER_SECONDS`` ago: a
  task carries it (``dispatched_at`` is when it was published) or a worker holds its lease
  (``dispatched_at`` is the lease's end);
- *lost* once that is older: its task went with a broker or a worker; it waits again.

`dispatch_messages` is the only way from waiting to in flight. Under a per-tenant advisory
lock, it counts the tenant's in-flight messages and marks at most the difference to the
limit, oldest due first, as dispatched, then publishes them in batches. It runs

- when a send wakes it (``conversations.dispatch_messages``, batched per tenant by the
  outbox and coalesced: at most one wake-up per tenant is pending). The woken task delivers
  the first batch itself, so a message waits for no one but the queue, once: the wake-up
  stood in the queue in its send's place, behind the work other tenants had queued before,
  and with one wake-up pending per tenant, each tenant gets one such batch per turn; the
  other batches join the back of the queue;
- at the end of every batch (``conversations.deliver_messages``): the tenant's next batches
  join the back of the queue, behind the other tenants' work that arrived meanwhile;
- when a retry comes due (a woken task with the retry's countdown);
- from beat's sweep, for every tenant whose wake-up is not pending (`sweep_messages`): the
  safety net for lost wake-ups and lost tasks.

So another tenant's message waits behind at most the limit of each busy tenant, never
behind a whole backlog, and a lone tenant still keeps ``IN_FLIGHT / BATCH`` tasks queued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from conversations.models import Message
from conversations.services import sending
from conversations.services.delivery import (
    DELIVER_MESSAGES,
    DISPATCH_MESSAGES,
    Attempt,
    mark_undispatched,
    prepare_batch,
    prepare_claimed,
    send_and_record,
)
from conversations.status import PENDING_DELIVERY
from engium import outbox
from engium.tenancy import current_schema

logger = logging.getLogger(__name__)


def pending_messages() -> QuerySet[Message]:
    """Messages of the current tenant that still need a delivery attempt, now or later."""
    return Message.objects.filter(status__in=PENDING_DELIVERY, next_attempt_at__isnull=False)


def in_flight(*, now: datetime | None = None) -> QuerySet[Message]:
    """The current tenant's messages that a task carries or a worker is sending."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.ENGIUM_REDISPATCH_AFTER_SECONDS)
    return pending_messages().filter(dispatched_at__gt=stale)


def waiting_messages(*, now: datetime | None = None) -> QuerySet[Message]:
    """The current tenant's due messages that no task carries: waiting, or lost."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.ENGIUM_REDISPATCH_AFTER_SECONDS)
    return (
        pending_messages()
        .filter(next_attempt_at__lte=now)
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lte=stale))
    )


def dispatch_messages(*, woken: bool = False, wait: bool = True) -> int:
    """Dispatch the current tenant's due waiting (and lost) messages, within its in-flight limit.

    Marks them dispatched (committed before anything is published), then publishes them as
    ``conversations.deliver_messages`` tasks of ``ENGIUM_DELIVERY_BATCH`` IDs, oldest first.
    ``woken``: this is the tenant's wake-up task; it lets the next send publish another, and
    delivers the first batch here, after publishing the others (``wait``: see
    `deliver_messages`). If the broker is down, what was not published waits again
    (``mark_undispatched``) for the sweep. Returns how many messages were dispatched.
    """
    batch = settings.ENGIUM_DELIVERY_BATCH
    if woken:  # before reading the rows: a send that skipped its wake-up is seen below
        outbox.taken(DISPATCH_MESSAGES, schema=current_schema())
        if not wait:
            sending.wait_for_room(batch)
    now = timezone.now()
    lease = timedelta(seconds=settings.ENGIUM_DELIVERY_LEASE_SECONDS)
    with transaction.atomic(), connection.cursor() as cursor:
        # One dispatcher per tenant at a time, so that the count in the statement below
        # (which takes its snapshot after the lock) stays true until the marks are
        # committed: concurrent batches finishing never overshoot the limit. The lock is
        # held for that one statement: dispatchers of a busy tenant queue on it.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{current_schema()}:delivery"]
        )
        cursor.execute(
            _DISPATCH_SQL,
            {
                "now": now,
                "stale": now - timedelta(seconds=settings.ENGIUM_REDISPATCH_AFTER_SECONDS),
                "limit": settings.ENGIUM_DELIVERY_TENANT_IN_FLIGHT,
                "claim": batch if woken else 0,
                "lease_end": now + lease,
            },
        )
        picked = sorted(cursor.fetchall(), key=lambda row: (row[1], row[0]))
    ids = [message_id for message_id, *_ in picked]
    rest = [message_id for message_id, _, claimed, _ in picked if not claimed]
    unknown = {message_id: was for message_id, _, claimed, was in picked if claimed}
    outbox.publish_each(
        DELIVER_MESSAGES,
        schema=current_schema(),
        item_ids=rest,
        batch=batch,
        if_unpublished=mark_undispatched,
    )
    if unknown:
        _deliver(
            lambda: prepare_claimed(_claimed_rows(unknown)), wait=wait, message_ids=list(unknown)
        )
    return len(ids)


# The dispatcher's statement, under the tenant's lock: count the messages in flight, pick
# the oldest due waiting ones up to the limit (rows locked, `SKIP LOCKED`), mark them
# dispatched, and (a wake-up) claim the first `claim` of them at once, as `claim_locked`
# does: an attempt more, a lease, `queued` → `sending` with its history step. Returns each
# picked message's ID, when it was due, whether it was claimed, and whether the outcome of
# its last attempt was unknown.
_DISPATCH_SQL = """
WITH busy AS (
    SELECT count(*) AS n FROM conversations_message
    WHERE status IN ('queued', 'sending') AND next_attempt_at IS NOT NULL
      AND dispatched_at IS NOT NULL AND dispatched_at > %(stale)s
), picked AS (
    SELECT id, status, outcome_unknown, next_attempt_at FROM conversations_message
    WHERE status IN ('queued', 'sending') AND next_attempt_at IS NOT NULL
      AND next_attempt_at <= %(now)s
      AND (dispatched_at IS NULL OR dispatched_at <= %(stale)s)
    ORDER BY next_attempt_at, id
    LIMIT GREATEST(%(limit)s - (SELECT n FROM busy), 0)
    FOR UPDATE SKIP LOCKED
), ranked AS (
    SELECT id, status, outcome_unknown, next_attempt_at,
           row_number() OVER (ORDER BY next_attempt_at, id) <= %(claim)s AS claimed
    FROM picked
), marked AS (
    UPDATE conversations_message AS m SET
        dispatched_at = CASE WHEN ranked.claimed THEN %(lease_end)s ELSE %(now)s END,
        next_attempt_at = CASE WHEN ranked.claimed THEN %(lease_end)s ELSE m.next_attempt_at END,
        attempts = m.attempts + CASE WHEN ranked.claimed THEN 1 ELSE 0 END,
        outcome_unknown = ranked.claimed OR m.outcome_unknown,
        status = CASE WHEN ranked.claimed THEN 'sending' ELSE m.status END,
        updated_at = CASE WHEN ranked.claimed AND m.status = 'queued' THEN %(now)s
                          ELSE m.updated_at END
    FROM ranked WHERE m.id = ranked.id
    RETURNING m.id, ranked.next_attempt_at AS due, ranked.claimed,
              ranked.outcome_unknown AS was_unknown, ranked.status AS was
), history AS (
    INSERT INTO conversations_messagestatuschange
        (message_id, status, occurred_at, error_code, error_message)
    SELECT id, 'sending', %(now)s, '', '' FROM marked WHERE claimed AND was = 'queued'
)
SELECT id, due, claimed, was_unknown FROM marked
"""


def _claimed_rows(unknown: dict[str, bool]) -> list[tuple[Message, bool]]:
    """The messages the dispatcher claimed, in its order, each with whether its last
    attempt's outcome was unknown (as `claim_locked` gives them)."""
    found = Message.objects.in_bulk(list(unknown))
    return [(found[pk], was) for pk, was in unknown.items() if pk in found]


def sweep_messages() -> int:
    """The sweep's dispatch (beat, every few seconds): the safety net for lost wake-ups and
    lost tasks. While the tenant's wake-up is pending it is not lost, and it will dispatch
    what waits in its turn: the sweep leaves the tenant alone, rather than put the waiting
    messages (a quiet tenant's new one among them) at the back of the queue, behind the
    batches other tenants queued since. A wake-up that is lost stops being pending when its
    mark expires (``outbox.PENDING_SECONDS``)."""
    if outbox.pending(DISPATCH_MESSAGES, schema=current_schema()):
        return 0
    return dispatch_messages()


def deliver_messages(message_ids: list[str], *, wait: bool = True) -> int:
    """Deliver a dispatched batch, then dispatch the tenant's next batches.

    ``wait``: send and record here (`deliver_batch`); else (a worker's task) return once the
    batch's HTTP sends are started (`sending.start_batch`), and the next dispatch follows
    its record. Returns how many messages were attempted.
    """
    if not wait:
        sending.wait_for_room(len(message_ids))
    return _deliver(lambda: prepare_batch(message_ids), wait=wait, message_ids=message_ids)


def _deliver(prepare: Callable[[], list[Attempt]], *, wait: bool, message_ids: list[str]) -> int:
    """Prepare a batch, send and record it (``wait``) or start it, and dispatch what is next.

    A message that fails in an unexpected way is retried like a transient error; if the
    batch itself fails (the database), it is logged and its messages are left to their
    leases.
    """
    try:
        attempts = prepare()
        if not wait:
            return sending.start_attempts(attempts, then=dispatch_next)
        attempted = len(send_and_record(attempts))
    except Exception:
        # Left to their leases (or, if never claimed, to the sweep).
        logger.exception("delivering a batch failed", extra={"message_ids": message_ids})
        attempted = 0
    dispatch_next()
    return attempted


def dispatch_next() -> None:
    """After a batch: the tenant's next batches go to the back of the queue, so other
    tenants' work that arrived while it was being sent goes first. When nothing waits (a
    tenant that keeps up), one indexed probe spares the dispatcher's lock and count. A
    message that starts waiting after the probe has a wake-up of its own (a send's, or a
    retry's countdown). When the tenant's wake-up is pending, it is left to dispatch what
    waits: it stands in the queue already, and it claims its first batch in its dispatch's
    own transaction, where batches published here would cost a task and a claim more."""
    if outbox.pending(DISPATCH_MESSAGES, schema=current_schema()):
        return  # under load, the common case: one Redis round trip, no SQL
    if waiting_messages().exists():
        dispatch_messages()


def leave_for_the_sweep(message_ids: list[str]) -> None:
    """A send's wake-up could not be published: its message already waits (``dispatched_at``
    NULL), and the next sweep dispatches it. Nothing to mark."""
