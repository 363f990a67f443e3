"""The outbox publisher (`engium.outbox`) against the broker the tests run with.

Published tasks are read back from the broker's Redis list (``delivery``, where the delivery
tasks are routed) and removed again at the end of each test. Each test publishes for
schema names of its own, so that it only ever sees, and removes, its own tasks.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest
from celery.signals import before_task_publish
from django.db import connection
from django.utils import timezone

from conversations.models import Message
from conversations.services import DELIVER_MESSAGE, DELIVER_MESSAGES, mark_undispatched
from engium import outbox
from engium.celery import app as celery_app
from engium.ids import new_id
from engium.outbox import MAX_BATCH, BatchPublisher
from tests.builders import create_message
from tests.conftest import TenantFixture

QUEUE = "delivery"  # both task names below are routed here
TASK = DELIVER_MESSAGES
OTHER_TASK = DELIVER_MESSAGE
DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connections are refused
WINDOW_MS = 1000  # far longer than a test takes to submit its items


def wait_for(check: Callable[[], Any], what: str, seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s: {what}")
        time.sleep(0.02)
    return result


class Broker:
    """The broker's ``delivery`` list, read directly."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.schemas: set[str] = set()

    def schema(self) -> str:
        """A schema name of this test's own (no tenant has it: only the header carries it)."""
        name = f"t_outbox_{uuid.uuid4().hex[:12]}"
        self.schemas.add(name)
        return name

    def tasks(self, schema: str) -> list[tuple[str, list[Any]]]:
        """(task name, args) of the tasks published for ``schema``, oldest first."""
        found = []
        for raw in reversed(self.client.lrange(QUEUE, 0, -1)):  # LPUSHed: newest first
            message = json.loads(raw)
            if message["headers"].get("_schema_name") == schema:
                args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
                found.append((message["headers"]["task"], args))
        return found

    def wait_for_ids(self, schema: str, count: int) -> list[tuple[str, list[Any]]]:
        """The tasks for ``schema`` once they carry ``count`` IDs between them."""

        def enough() -> list[tuple[str, list[Any]]]:
            tasks = self.tasks(schema)
            return tasks if sum(len(args[0]) for _, args in tasks) >= count else []

        return wait_for(enough, f"{count} IDs published for {schema}")

    def remove_ours(self) -> None:
        for raw in self.client.lrange(QUEUE, 0, -1):
            if json.loads(raw)["headers"].get("_schema_name") in self.schemas:
                self.client.lrem(QUEUE, 1, raw)


@pytest.fixture
def broker() -> Iterator[Broker]:
    with celery_app.connection_for_write() as broker_connection:
        reader = Broker(broker_connection.default_channel.client)
        try:
            yield reader
        finally:
            reader.remove_ours()


@pytest.fixture
def background(settings: Any) -> Any:
    settings.ENGIUM_DISPATCH_IN_BACKGROUND = True
    settings.ENGIUM_DISPATCH_WINDOW_MS = WINDOW_MS
    return settings


def _reconnect() -> None:
    """Make Celery build its broker connections anew from its settings at the next publish."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@contextmanager
def broker_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Publishing goes to a broker that refuses connections (Celery reads this variable first)."""
    try:
        with monkeypatch.context() as patch:
            patch.setenv("CELERY_BROKER_WRITE_URL", DEAD_BROKER)
            _reconnect()
            yield
    finally:
        _reconnect()


class Recorder:
    """An ``if_unpublished``: records the IDs it is given and the thread it runs in."""

    def __init__(self, *, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.threads: list[threading.Thread] = []
        self.called = threading.Event()
        self.fail = fail

    def __call__(self, item_ids: list[str]) -> None:
        self.calls.append(list(item_ids))
        self.threads.append(threading.current_thread())
        self.called.set()
        if self.fail:
            raise RuntimeError("marking the rows failed too")


class HeldPublisher(BatchPublisher):
    """A publisher whose thread never takes anything from the queue in the process that made it.

    What is submitted stays queued, for `flush` (or a forked child) to find. (The held thread
    is a daemon blocked for good: what a test leaves queued is never published later.)
    """

    def __init__(self) -> None:
        super().__init__()
        self._held_in = os.getpid()
        self._never = threading.Event()

    def _run(self) -> None:
        if os.getpid() == self._held_in:
            self._never.wait()
        super()._run()


@pytest.fixture
def held() -> HeldPublisher:
    return HeldPublisher()


@pytest.fixture
def publishing_threads() -> Iterator[dict[str, list[threading.Thread]]]:
    """The threads that published, by the schema each task was for."""
    threads: dict[str, list[threading.Thread]] = {}

    def record(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
        schema = (headers or {}).get("_schema_name", "")
        threads.setdefault(schema, []).append(threading.current_thread())

    before_task_publish.connect(record, weak=False)
    yield threads
    before_task_publish.disconnect(record)


# ------------------------------------------------------------------ batching


def past_a_first_publish(publisher: BatchPublisher, broker: Broker) -> None:
    """Publish one item and wait for it: what is submitted next falls within its window."""
    schema, item_id = broker.schema(), new_id("msg")
    publisher.submit(TASK, schema=schema, item_id=item_id, if_unpublished=Recorder())
    broker.wait_for_ids(schema, 1)


def test_after_a_quiet_window_a_lone_submit_is_published_at_once(
    background: Any, broker: Broker
) -> None:
    background.ENGIUM_DISPATCH_WINDOW_MS = 120_000  # far longer than `wait_for_ids` waits
    publisher, unpublished = BatchPublisher(), Recorder()
    schema, item_id = broker.schema(), new_id("msg")

    publisher.submit(TASK, schema=schema, item_id=item_id, if_unpublished=unpublished)

    assert broker.wait_for_ids(schema, 1) == [(TASK, [[item_id]])]


def test_submits_within_the_window_are_one_task_with_every_id_in_order(
    background: Any, broker: Broker
) -> None:
    publisher, unpublished = BatchPublisher(), Recorder()
    past_a_first_publish(publisher, broker)
    schema = broker.schema()
    ids = [new_id("msg") for _ in range(5)]

    for item_id in ids:
        publisher.submit(TASK, schema=schema, item_id=item_id, if_unpublished=unpublished)

    assert broker.wait_for_ids(schema, len(ids)) == [(TASK, [ids])]
    assert unpublished.calls == []


def test_each_task_and_schema_is_a_task_of_its_own(background: Any, broker: Broker) -> None:
    publisher, unpublished = BatchPublisher(), Recorder()
    past_a_first_publish(publisher, broker)
    first, second = broker.schema(), broker.schema()
    a, b, c, d, e = (new_id("msg") for _ in range(5))

    for task, schema, item_id in [
        (TASK, first, a),
        (TASK, second, b),
        (OTHER_TASK, first, c),
        (TASK, first, d),
        (OTHER_TASK, first, e),
    ]:
        publisher.submit(task, schema=schema, item_id=item_id, if_unpublished=unpublished)

    assert sorted(broker.wait_for_ids(first, 4)) == sorted(
        [(TASK, [[a, d]]), (OTHER_TASK, [[c, e]])]
    )
    assert broker.wait_for_ids(second, 1) == [(TASK, [[b]])]


def test_more_than_max_batch_ids_are_split_into_tasks_of_at_most_max_batch(
    background: Any, broker: Broker
) -> None:
    publisher, unpublished = BatchPublisher(), Recorder()
    past_a_first_publish(publisher, broker)
    schema = broker.schema()
    ids = [new_id("msg") for _ in range(2 * MAX_BATCH + 50)]

    for item_id in ids:
        publisher.submit(TASK, schema=schema, item_id=item_id, if_unpublished=unpublished)

    tasks = broker.wait_for_ids(schema, len(ids))
    assert [len(args[0]) for _, args in tasks] == [MAX_BATCH, MAX_BATCH, 50]
    assert [item_id for _, args in tasks for item_id in args[0]] == ids


class CountedSignal:
    """The publisher's wake-up queue, counting the wakes that submits send."""

    def __init__(self, signal: Any) -> None:
        self.signal = signal
        self.puts = 0

    def put(self, item: None) -> None:
        self.puts += 1
        self.signal.put(item)

    def get(self, *args: Any, **kwargs: Any) -> None:
        self.signal.get(*args, **kwargs)


def test_steady_submits_wake_the_thread_once_and_a_quiet_window_puts_it_to_sleep(
    background: Any, broker: Broker
) -> None:
    background.ENGIUM_DISPATCH_WINDOW_MS = 150
    publisher, unpublished = BatchPublisher(), Recorder()
    publisher._ensure_thread()
    publisher._signal = signal = CountedSignal(publisher._signal)  # type: ignore[assignment]
    schema = broker.schema()
    ids = [new_id("msg") for _ in range(40)]

    # when: a submit every 10 ms, over several windows
    for item_id in ids:
        publisher.submit(TASK, schema=schema, item_id=item_id, if_unpublished=unpublished)
        time.sleep(0.01)

    # then: every ID is published, in order, and only the first submit woke the thread
    tasks = broker.wait_for_ids(schema, len(ids))
    assert [item_id for _, args in tasks for item_id in args[0]] == ids
    assert len(tasks) > 1 and signal.puts == 1

    # and after a window without submits, the thread sleeps: the next submit wakes it
    time.sleep(0.5)
    later = new_id("msg")
    publisher.submit(TASK, schema=schema, item_id=later, if_unpublished=unpublished)
    assert broker.wait_for_ids(schema, len(ids) + 1)[-1] == (TASK, [[later]])
    assert signal.puts == 2


def test_without_background_dispatch_a_submit_publishes_at_once(
    settings: Any, broker: Broker
) -> None:
    settings.ENGIUM_DISPATCH_IN_BACKGROUND = False
    schema, item_id = broker.schema(), new_id("msg")

    outbox.submit(TASK, schema=schema, item_id=item_id, if_unpublished=Recorder())

    assert broker.tasks(schema) == [(TASK, [[item_id]])]


# ------------------------------------------------------------------ coalesced wake-ups


def test_coalesced_submits_publish_one_task_until_it_is_taken(
    settings: Any, broker: Broker
) -> None:
    settings.ENGIUM_DISPATCH_IN_BACKGROUND = False
    schema, other = broker.schema(), broker.schema()
    try:
        for item_id in ("msg_a", "msg_b"):
            outbox.submit(
                TASK, schema=schema, item_id=item_id, if_unpublished=Recorder(), coalesce=True
            )
        outbox.submit(TASK, schema=other, item_id="msg_x", if_unpublished=Recorder(), coalesce=True)
        # one pending wake-up per tenant: the second submit found the first still pending
        assert broker.tasks(schema) == [(TASK, [["msg_a"]])]
        assert broker.tasks(other) == [(TASK, [["msg_x"]])]

        # the task started: the next submit wakes it again
        outbox.taken(TASK, schema=schema)
        outbox.submit(
            TASK, schema=schema, item_id="msg_c", if_unpublished=Recorder(), coalesce=True
        )
        assert broker.tasks(schema) == [(TASK, [["msg_a"]]), (TASK, [["msg_c"]])]
    finally:
        outbox.taken(TASK, schema=schema)
        outbox.taken(TASK, schema=other)


def test_a_coalesced_task_is_pending_from_its_publish_until_it_is_taken(
    settings: Any, broker: Broker
) -> None:
    settings.ENGIUM_DISPATCH_IN_BACKGROUND = False
    schema, other = broker.schema(), broker.schema()
    try:
        assert not outbox.pending(TASK, schema=schema)
        outbox.submit(
            TASK, schema=schema, item_id="msg_a", if_unpublished=Recorder(), coalesce=True
        )
        assert outbox.pending(TASK, schema=schema)
        assert not outbox.pending(TASK, schema=other)
        assert not outbox.pending(OTHER_TASK, schema=schema)
        outbox.taken(TASK, schema=schema)
        assert not outbox.pending(TASK, schema=schema)
    finally:
        outbox.taken(TASK, schema=schema)


def test_whether_a_task_is_pending_is_no_when_redis_is_down(settings: Any) -> None:
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:9/0"}
    }
    # "no" sends the caller down the path that dispatches itself: nothing is left waiting
    assert not outbox.pending(TASK, schema="t_outbox_redis_down")


def test_coalescing_fails_open_when_redis_is_down(settings: Any, broker: Broker) -> None:
    settings.ENGIUM_DISPATCH_IN_BACKGROUND = False
    schema = broker.schema()
    # nothing listens there
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:9/0"}
    }
    for item_id in ("msg_a", "msg_b"):
        outbox.submit(
            TASK, schema=schema, item_id=item_id, if_unpublished=Recorder(), coalesce=True
        )

    # no way to know whether one is pending: each is published (the task costs little)
    assert broker.tasks(schema) == [(TASK, [["msg_a"]]), (TASK, [["msg_b"]])]


def test_a_coalesced_publish_that_failed_leaves_nothing_pending(
    settings: Any, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ENGIUM_DISPATCH_IN_BACKGROUND = False
    schema = broker.schema()
    try:
        with broker_down(monkeypatch):
            outbox.submit(
                TASK, schema=schema, item_id="msg_a", if_unpublished=Recorder(), coalesce=True
            )
        outbox.submit(
            TASK, schema=schema, item_id="msg_b", if_unpublished=Recorder(), coalesce=True
        )
        assert broker.tasks(schema) == [(TASK, [["msg_b"]])]
    finally:
        outbox.taken(TASK, schema=schema)


# ------------------------------------------------------------------ flush


def test_flush_publishes_what_is_queued_in_the_calling_thread(
    background: Any,
    broker: Broker,
    held: HeldPublisher,
    publishing_threads: dict[str, list[threading.Thread]],
) -> None:
    schema = broker.schema()
    ids = [new_id("msg") for _ in range(3)]
    unpublished = Recorder()
    for item_id in ids:
        held.submit(TASK, schema=schema, item_id=item_id, if_unpublished=unpublished)
    assert broker.tasks(schema) == []  # queued: the publisher's thread is held

    held.flush()

    assert broker.tasks(schema) == [(TASK, [ids])]
    assert publishing_threads[schema] == [threading.current_thread()]


def test_flush_publishes_everything_queued_even_beyond_one_batch(
    background: Any, broker: Broker, held: HeldPublisher
) -> None:
    schema = broker.schema()
    ids = [new_id("msg") for _ in range(MAX_BATCH + 50)]
    unpublished = Recorder()
    for item_id in ids:
        held.submit(TASK, schema=schema, item_id=item_id, if_unpublished=unpublished)

    held.flush()

    assert [item_id for _, args in broker.tasks(schema) for item_id in args[0]] == ids


# ------------------------------------------------------------------ broker down


def test_a_publish_to_a_dead_broker_returns_false_and_marks_the_rows_in_their_schema(
    tenant_a: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = create_message(tenant_a, recipient="+15550107001")
    with tenant_a.schema():  # dispatched (conversations.services.dispatch), to be published
        Message.objects.filter(pk=message.id).update(dispatched_at=timezone.now())
    connection.set_schema_to_public()

    with broker_down(monkeypatch):
        published = outbox.publish(
            TASK,
            schema=tenant_a.tenant.schema_name,
            args=[[message.id]],
            if_unpublished=partial(mark_undispatched, [message.id]),
        )

    assert published is False
    assert connection.schema_name == "public", "the caller's schema is restored"
    with tenant_a.schema():
        # the next sweep dispatches it at once
        assert Message.objects.get(pk=message.id).dispatched_at is None


def test_a_failing_if_unpublished_is_logged_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    failing = Recorder(fail=True)
    with broker_down(monkeypatch):
        published = outbox.publish(
            TASK, schema="t_outbox_nobody", args=[["msg_x"]], if_unpublished=partial(failing, ["x"])
        )
        assert outbox.publish(TASK, schema="t_outbox_nobody", args=[["msg_y"]]) is False
    assert published is False
    assert failing.calls == [["x"]]


def test_flush_to_a_dead_broker_marks_every_queued_row_in_its_schema(
    background: Any, tenant_a: TenantFixture, held: HeldPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = [create_message(tenant_a, recipient=f"+1555010710{i}") for i in range(3)]
    with tenant_a.schema():
        Message.objects.filter(pk__in=[m.id for m in messages]).update(dispatched_at=timezone.now())
    schema = tenant_a.tenant.schema_name
    for message in messages:
        held.submit(TASK, schema=schema, item_id=message.id, if_unpublished=mark_undispatched)

    with broker_down(monkeypatch):
        held.flush()

    with tenant_a.schema():
        # (the rows are this test's, uncommitted: only its own connection could mark them)
        rows = Message.objects.filter(pk__in=[m.id for m in messages])
        assert list(rows.values_list("dispatched_at", flat=True)) == [None, None, None]


# ------------------------------------------------------------------ the background thread


def test_the_thread_survives_a_publish_that_raises(
    background: Any, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    background.ENGIUM_DISPATCH_WINDOW_MS = 10
    real_publish = outbox.publish
    threads: list[threading.Thread] = []
    failed = threading.Event()

    def publish_failing_once(task_name: str, **kwargs: Any) -> bool:
        threads.append(threading.current_thread())
        if not failed.is_set():
            failed.set()
            raise RuntimeError("a bug in publishing")
        return real_publish(task_name, **kwargs)

    monkeypatch.setattr(outbox, "publish", publish_failing_once)
    publisher, unpublished = BatchPublisher(), Recorder()
    schema, lost, after = broker.schema(), new_id("msg"), new_id("msg")

    publisher.submit(TASK, schema=schema, item_id=lost, if_unpublished=unpublished)
    assert failed.wait(10)
    publisher.submit(TASK, schema=schema, item_id=after, if_unpublished=unpublished)

    assert broker.wait_for_ids(schema, 1) == [(TASK, [[after]])]
    # published by the thread that met the error: it lived on (no new thread was started)
    assert len(threads) == 2 and threads[0] is threads[1]


def test_the_thread_survives_a_dead_broker_and_a_failing_if_unpublished(
    background: Any,
    broker: Broker,
    monkeypatch: pytest.MonkeyPatch,
    publishing_threads: dict[str, list[threading.Thread]],
) -> None:
    background.ENGIUM_DISPATCH_WINDOW_MS = 10
    publisher, failing = BatchPublisher(), Recorder(fail=True)
    schema, lost, after = broker.schema(), new_id("msg"), new_id("msg")

    with broker_down(monkeypatch):
        publisher.submit(TASK, schema=schema, item_id=lost, if_unpublished=failing)
        assert failing.called.wait(10)
    publisher.submit(TASK, schema=schema, item_id=after, if_unpublished=failing)

    assert broker.wait_for_ids(schema, 1) == [(TASK, [[after]])]
    assert failing.calls == [[lost]]
    assert publishing_threads[schema][-1] is failing.threads[0]


# ------------------------------------------------------------------ fork


def test_a_forked_process_publishes_from_a_queue_and_thread_of_its_own(
    background: Any, broker: Broker, held: HeldPublisher
) -> None:
    background.ENGIUM_DISPATCH_WINDOW_MS = 10
    schema, parents, childs = broker.schema(), new_id("msg"), new_id("msg")
    unpublished = Recorder()
    held.submit(TASK, schema=schema, item_id=parents, if_unpublished=unpublished)

    pid = os.fork()
    if pid == 0:  # the child: no pytest, no Django cleanup, only os._exit
        code = 1
        try:
            held.submit(TASK, schema=schema, item_id=childs, if_unpublished=unpublished)
            broker.wait_for_ids(schema, 1)  # published by the child's own thread
            code = 0
        except BaseException:
            code = 2
        finally:
            os._exit(code)

    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # the child published its item alone, not its copy of the parent's queued one
    assert broker.tasks(schema) == [(TASK, [[childs]])]
    # and the parent's queue holds what it held: its own item, and only that
    held.flush()
    assert broker.tasks(schema) == [(TASK, [[childs]]), (TASK, [[parents]])]


# ------------------------------------------------------------------ a sweep's work


def test_publish_each_sends_one_task_per_item_or_per_batch(broker: Broker) -> None:
    schema = broker.schema()
    unpublished = Recorder()

    assert outbox.publish_each(TASK, schema=schema, item_ids=["a", "b"], if_unpublished=unpublished)
    assert (
        outbox.publish_each(
            TASK, schema=schema, item_ids=["c", "d", "e"], if_unpublished=unpublished, batch=2
        )
        == 3
    )

    assert broker.tasks(schema) == [
        (TASK, ["a"]),
        (TASK, ["b"]),
        (TASK, [["c", "d"]]),
        (TASK, [["e"]]),
    ]
    assert unpublished.calls == []


def test_publish_each_marks_the_failed_item_and_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    unpublished = Recorder()
    with broker_down(monkeypatch):
        published = outbox.publish_each(
            TASK, schema="public", item_ids=["a", "b", "c"], if_unpublished=unpublished
        )
    assert published == 0
    assert unpublished.calls == [["a", "b", "c"]]
