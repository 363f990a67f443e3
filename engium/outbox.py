"""Publishing work to the broker: the one way any process enqueues a task.

Rows are the outbox. Whatever a task is for (a message to deliver, a webhook delivery, an
agent's turn) is committed first as a row that says when it is due; the task only wakes a
worker up for it. A publish that fails therefore loses nothing: the caller's
``if_unpublished`` marks its rows for its app's beat sweep, which publishes them again
(docs/architecture.md#the-outbox). Tasks are published by name, so a service never
imports the task module that wraps it.

Two ways to publish:

- `publish`: one task, now, in the calling thread.
- `submit`: one item ID, queued in-process and published from a background thread,
  batched per task and tenant over ``ENGIUM_DISPATCH_WINDOW_MS`` (at most `MAX_BATCH` IDs);
  the task receives the list of IDs. The thread publishes what a window collected when
  it ends, and the first item after a quiet window at once: batching never delays a lone
  item. Under load N sends then cost one publish, not N, and the request never waits for
  the broker. A process that dies with items queued loses only wake-up calls: the sweep
  finds their rows.

A *coalesced* submit (``coalesce=True``) is a wake-up whose task reads its work from the
database rather than from its arguments: it is published only if no such task for the
tenant is pending yet, which a Redis key says (one ``SET NX`` per batch, not per item). The
task calls `taken` when it starts, before it reads the rows, so a row committed before a
skipped publish is always seen by the pending task. If Redis is unreachable, the task is
published anyway (fail open); a key left behind only delays wake-ups until it expires, and
the sweep finds the rows meanwhile.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_tenants.utils import schema_context

from engium.cache import OwnConnection, bulk
from engium.celery import app as celery_app

logger = logging.getLogger(__name__)

MAX_BATCH = 100
#: How long a coalesced task counts as pending without being taken (lost, or a long queue).
PENDING_SECONDS = 10

ItemID = TypeVar("ItemID", str, int)

#: Marks the given item IDs for the sweep; runs in the items' schema.
MarkUnpublished = Callable[[list[str]], object]
#: A submitted item: task name, schema, item ID, its ``if_unpublished``, coalesced or not.
Item = tuple[str, str, str, MarkUnpublished, bool]


def publish(
    task_name: str,
    *,
    schema: str,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    countdown: float | None = None,
    if_unpublished: Callable[[], object] | None = None,
) -> bool:
    """Enqueue ``task_name`` to run in ``schema``; False (logged, not raised) if the broker is down.

    When the publish fails, ``if_unpublished`` runs in ``schema`` so that the sweep
    publishes the work again; if even that fails (the database is gone too), the sweep
    still finds the work once its redispatch interval has passed.
    """
    try:
        celery_app.signature(task_name, args=tuple(args), kwargs=dict(kwargs or {})).apply_async(
            countdown=countdown or None, headers={"_schema_name": schema}
        )
    except Exception:
        logger.warning(
            "broker unreachable; the outbox sweep will publish the task again",
            extra={"task": task_name, "schema": schema},
            exc_info=True,
        )
        if if_unpublished is not None:
            try:
                with schema_context(schema):
                    if_unpublished()
            except Exception:
                logger.exception("could not mark unpublished work for the sweep")
        return False
    return True


def publish_each(
    task_name: str,
    *,
    schema: str,
    item_ids: list[ItemID],
    if_unpublished: Callable[[list[ItemID]], object],
    batch: int | None = None,
) -> int:
    """Publish a sweep's work: one task per item, or per ``batch`` items (the task then takes
    the list); returns how many items were published.

    If the broker fails, the items of the task it failed on and of every one after it are
    marked with ``if_unpublished`` (so the next sweep takes them at once), and publishing
    stops.
    """
    size = batch or 1
    for start in range(0, len(item_ids), size):
        chunk = item_ids[start : start + size]
        if not publish(
            task_name,
            schema=schema,
            args=[chunk if batch else chunk[0]],
            if_unpublished=partial(if_unpublished, item_ids[start:]),
        ):
            return start
    return len(item_ids)


def republish_stale(
    rows: QuerySet[Any],
    *,
    stamp: str,
    task_name: str,
    schema: str,
    if_unpublished: Callable[[list[ItemID]], object],
    now: datetime | None = None,
    limit: int = 500,
) -> int:
    """The sweep's part for an outbox table: publish again the pending ``rows`` (oldest ID
    first) whose task is missing, one task each; returns how many were published.

    A row's ``stamp`` field says when its task was last published: NULL when publishing
    failed (taken at once), older than ``ENGIUM_REDISPATCH_AFTER_SECONDS`` when the task was
    lost with a broker or a worker. The new stamp is written first, under ``SKIP LOCKED``,
    so one sweep publishes a row at most once.
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.ENGIUM_REDISPATCH_AFTER_SECONDS)
    with transaction.atomic():
        ids = list(
            rows.select_for_update(skip_locked=True)
            .filter(Q(**{f"{stamp}__isnull": True}) | Q(**{f"{stamp}__lte": stale}))
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return 0
        rows.model.objects.filter(pk__in=ids).update(**{stamp: now})
    return publish_each(task_name, schema=schema, item_ids=ids, if_unpublished=if_unpublished)


def _pending_key(task_name: str, schema: str) -> str:
    return f"outbox:pending:{task_name}:{schema}"


_own_connection = OwnConnection()
#: ``SET <key> 1 NX EX <PENDING_SECONDS>``, but for the key.
_SET_NX_HEAD = b"*6\r\n" + bulk("SET")
_SET_NX_TAIL = bulk("1") + bulk("NX") + bulk("EX") + bulk(str(PENDING_SECONDS))


def _mark_pending(task_name: str, schema: str) -> bool:
    """True if no ``task_name`` task for ``schema`` was pending (it is now), or Redis is down."""
    try:
        key = caches["default"].make_key(_pending_key(task_name, schema))
        connection = _own_connection.send(_SET_NX_HEAD + bulk(key) + _SET_NX_TAIL)
        return _own_connection.read(connection) is not None  # OK, or nil if already set
    except Exception:  # the raw connection: fail open, not closed
        logger.warning("cannot coalesce wake-ups; publishing", exc_info=True)
        return True


def pending(task_name: str, *, schema: str) -> bool:
    """Whether a coalesced ``task_name`` task for ``schema`` is pending: published and not
    yet taken, so it will read rows committed now. False if Redis cannot say."""
    try:
        return bool(caches["default"].has_key(_pending_key(task_name, schema)))
    except Exception:
        logger.warning("cannot tell whether a wake-up is pending", exc_info=True)
        return False


def taken(task_name: str, *, schema: str) -> None:
    """A coalesced task has started: the next submit for ``schema`` publishes a new one."""
    caches["default"].delete(_pending_key(task_name, schema))


class BatchPublisher:
    """The background thread behind `submit`; one per process (a fork starts its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[Item] = deque()
        # Wakes the thread when it is idle (it then publishes window after window until a
        # window passes without submits), and when a batch is full: under steady traffic a
        # submit only appends, and no thread is woken per request.
        self._signal: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._scheduled = False  # the thread is awake (or woken) for what is queued
        self._thread: threading.Thread | None = None
        self._pid = 0

    def submit(
        self,
        task_name: str,
        *,
        schema: str,
        item_id: str,
        if_unpublished: MarkUnpublished,
        coalesce: bool = False,
    ) -> None:
        """Publish ``task_name`` for ``item_id`` soon, batched with others of its kind;
        with ``coalesce``, only if no such task for ``schema`` is pending (see above).

        With ``ENGIUM_DISPATCH_IN_BACKGROUND`` off, publishes now, in the calling thread.
        """
        item = (task_name, schema, item_id, if_unpublished, coalesce)
        if not settings.ENGIUM_DISPATCH_IN_BACKGROUND:
            self._publish([item])
            return
        self._ensure_thread()
        items = self._items
        items.append(item)
        if not self._scheduled:
            self._scheduled = True
            self._signal.put(None)
        elif len(items) == MAX_BATCH:
            self._signal.put(None)  # full: publish before the window ends

    def flush(self) -> None:
        """Publish whatever is queued now, in the calling thread (at exit, and in tests)."""
        if self._pid != os.getpid():
            return
        while batch := self._drain([]):
            self._publish(batch)

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's queue and thread are not ours
                self._items = deque()
                self._signal = queue.SimpleQueue()
                self._scheduled = False
                self._thread = None
                self._pid = os.getpid()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="engium-outbox-publisher", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._signal.get()  # idle until a submit wakes the thread
            # After a quiet window, what is queued goes at once: a lone send's wake-up waits
            # for no window. Then window after window, while submits keep coming: they only
            # append, and what a window collected is published when it ends.
            batch = self._drain([])
            while True:
                if batch:
                    try:
                        self._publish(batch)
                    except Exception:  # the thread must live on; the sweep has the rows
                        logger.exception("publishing a batch failed")
                deadline = time.monotonic() + settings.ENGIUM_DISPATCH_WINDOW_MS / 1000
                while len(self._items) < MAX_BATCH:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        self._signal.get(timeout=remaining)  # a full batch, or a stale wake
                    except queue.Empty:
                        break
                batch = self._drain([])
                if batch:
                    continue
                # A window without submits: idle again. A submit from now on wakes the
                # thread; one that came just before is seen here (its wake, if any, only
                # starts an empty window later).
                self._scheduled = False
                if not self._items:
                    break
                self._scheduled = True

    def _drain(self, batch: list[Item]) -> list[Item]:
        items = self._items
        while len(batch) < MAX_BATCH:
            try:
                batch.append(items.popleft())
            except IndexError:
                break
        return batch

    @staticmethod
    def _publish(batch: list[Item]) -> None:
        groups: dict[tuple[str, str, MarkUnpublished, bool], list[str]] = defaultdict(list)
        for task_name, schema, item_id, if_unpublished, coalesce in batch:
            groups[(task_name, schema, if_unpublished, coalesce)].append(item_id)
        for (task_name, schema, if_unpublished, coalesce), item_ids in groups.items():
            if coalesce and not _mark_pending(task_name, schema):
                continue  # the pending task will read these items' rows
            published = publish(
                task_name,
                schema=schema,
                args=[item_ids],
                if_unpublished=partial(if_unpublished, item_ids),
            )
            if coalesce and not published:
                taken(task_name, schema=schema)  # nothing is pending after all


_publisher = BatchPublisher()
submit = _publisher.submit
flush = _publisher.flush
atexit.register(flush)
