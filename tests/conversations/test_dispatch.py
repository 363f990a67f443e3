"""Fair delivery across tenants (`conversations.services.dispatch`), through the real broker.

The tasks the product publishes are taken from the broker's ``delivery`` list, oldest first,
and run in this process by `QueueRunner`: a worker of one process. What order the messages
reach the provider in (a local relay server records it) is then the dispatch's doing alone.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from conversations import services
from conversations import tasks as _tasks  # noqa: F401  (registers the tasks the runner runs)
from conversations.models import Message
from conversations.services.dispatch import _DISPATCH_SQL, in_flight
from conversations.status import PENDING_DELIVERY
from engium import outbox
from engium.celery import app as celery_app
from integrations.providers.registry import get_provider
from tests.builders import create_integration, create_message
from tests.conftest import TenantFixture, make_tenant
from tests.engium.test_outbox import broker_down
from tests.http_server import Reply, ScriptedServer

QUEUE = "delivery"


class QueueRunner:
    """Runs the delivery tasks of some tenants from the broker, oldest first, one at a time."""

    def __init__(self, client: Any, tenants: list[TenantFixture]) -> None:
        self.client = client
        self.schemas = {tenant.tenant.schema_name for tenant in tenants}
        self.ran: list[tuple[str, str, list[Any]]] = []

    def queued(self) -> list[tuple[str, str, list[Any], bytes]]:
        """(schema, task name, args, raw) of our tenants' tasks, oldest first."""
        found = []
        for raw in reversed(self.client.lrange(QUEUE, 0, -1)):  # LPUSHed: newest first
            message = json.loads(raw)
            schema = message["headers"].get("_schema_name")
            if schema in self.schemas:
                args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
                found.append((schema, message["headers"]["task"], args, raw))
        return found

    def run_next(self) -> bool:
        tasks = self.queued()
        if not tasks:
            return False
        schema, name, args, raw = tasks[0]
        self.client.lrem(QUEUE, 1, raw)
        self.ran.append((schema, name, args))
        with schema_context(schema):
            celery_app.tasks[name].run(*args)
        return True

    def ids_in_queue(self, schema: str) -> int:
        """How many message IDs the queued delivery batches of ``schema`` carry."""
        return sum(
            len(args[0])
            for task_schema, name, args, _ in self.queued()
            if task_schema == schema and name == services.DELIVER_MESSAGES
        )

    def discard(self) -> None:
        for *_, raw in self.queued():
            self.client.lrem(QUEUE, 1, raw)


@pytest.fixture
def broker() -> Iterator[Any]:
    with celery_app.connection_for_write() as connection:
        yield connection.default_channel.client


@pytest.fixture
def relay(settings: Any) -> Iterator[ScriptedServer]:
    settings.ENGIUM_PROVIDERS = {
        **settings.ENGIUM_PROVIDERS,
        "relay": "tests.providers.RelayProvider",
    }
    get_provider.cache_clear()
    with ScriptedServer() as server:
        yield server
    get_provider.cache_clear()


def relay_tenant(name: str, server: ScriptedServer) -> TenantFixture:
    tenant = make_tenant(name, channels=())
    create_integration(tenant, "sms", "relay", base_url=server.url, token="t")
    return tenant


def send(tenant: TenantFixture, n: int = 0) -> str:
    return create_message(tenant, channel="sms", recipient=f"+1555010{n % 10000:04d}").id


def received_ids(server: ScriptedServer) -> list[str]:
    """The message IDs the provider was given, in the order it received them."""
    return [request.headers["Idempotency-Key"] for request in server.received]


def test_another_tenants_message_goes_out_before_most_of_a_backlog(
    db: None, relay: ScriptedServer, broker: Any, settings: Any
) -> None:
    # given: tenant A's 1,000 accepted messages wait, and A's dispatcher was woken for them
    a, b = relay_tenant("Burst", relay), relay_tenant("Quiet", relay)
    runner = QueueRunner(broker, [a, b])
    try:
        a_ids = [send(a, n) for n in range(1000)]
        wake(a, a_ids)
        # and the worker is working through them
        while len(received_ids(relay)) < 20:
            assert runner.run_next()

        # when: B sends one message
        b_id = send(b)
        wake(b, [b_id])
        sent_before = len(received_ids(relay))

        # then: B's message reaches the provider before most of A's backlog: behind at
        # most A's messages in flight, not behind the 980 still waiting
        while b_id not in received_ids(relay):
            assert runner.run_next(), "the queue ran dry before B's message was sent"
        ahead_of_b = received_ids(relay).index(b_id) - sent_before
        assert ahead_of_b < 250, f"{ahead_of_b} of A's messages went out before B's"
        assert ahead_of_b <= settings.ENGIUM_DELIVERY_TENANT_IN_FLIGHT
        assert set(received_ids(relay)) - {b_id} <= set(a_ids)
    finally:
        runner.discard()


def wake(tenant: TenantFixture, message_ids: list[str]) -> None:
    """Wake ``tenant``'s dispatcher for ``message_ids``, as the outbox does after sends."""
    outbox.publish(services.DISPATCH_MESSAGES, schema=tenant.tenant.schema_name, args=[message_ids])


def test_a_tenants_messages_in_flight_never_exceed_the_limit(
    db: None, relay: ScriptedServer, broker: Any, settings: Any
) -> None:
    settings.ENGIUM_DELIVERY_TENANT_IN_FLIGHT = 5
    settings.ENGIUM_DELIVERY_BATCH = 2
    tenant = relay_tenant("Bounded", relay)
    schema = tenant.tenant.schema_name
    runner = QueueRunner(broker, [tenant])
    try:
        ids = [send(tenant, n) for n in range(23)]
        for _ in range(3):  # several wake-ups, as several web processes publish
            wake(tenant, ids)
        while True:
            with tenant.schema():
                assert in_flight().count() <= 5
            assert runner.ids_in_queue(schema) <= 5
            if not runner.run_next():
                break
        assert sorted(received_ids(relay)) == sorted(ids), "each sent once"
        batches = [args[0] for _, name, args in runner.ran if name == services.DELIVER_MESSAGES]
        assert batches and all(len(batch) <= 2 for batch in batches)
        # a lone tenant keeps its tasks queued: each batch's end dispatched the next ones
        assert len(batches) >= (23 - 2) // 2
    finally:
        runner.discard()


def test_a_batch_leaves_what_waits_to_the_tenants_pending_wake_up(
    db: None, relay: ScriptedServer, broker: Any, settings: Any
) -> None:
    settings.ENGIUM_DELIVERY_BATCH = 2
    tenant = relay_tenant("Woken", relay)
    schema = tenant.tenant.schema_name
    runner = QueueRunner(broker, [tenant])
    try:
        first, *waiting = [send(tenant, n) for n in range(5)]
        # a wake-up is pending (as a send publishes it): a batch's end dispatches nothing
        wake(tenant, waiting)
        assert outbox._mark_pending(services.DISPATCH_MESSAGES, schema)
        with tenant.schema():
            services.deliver_messages([first])
            assert Message.objects.filter(pk__in=waiting, dispatched_at=None).count() == 4
        assert runner.ids_in_queue(schema) == 0
        # the wake-up runs: it takes every waiting message (its first batch itself)
        assert runner.run_next()
        while runner.run_next():
            pass
        assert sorted(received_ids(relay)) == sorted([first, *waiting]), "each sent once"
        # with no wake-up pending, a batch's end dispatches the next batches itself
        more = [send(tenant, n) for n in range(5, 9)]
        with tenant.schema():
            services.deliver_messages(more[:1])
        assert runner.ids_in_queue(schema) == 3
    finally:
        outbox.taken(services.DISPATCH_MESSAGES, schema=schema)
        runner.discard()


def test_the_sweep_leaves_a_tenant_with_a_pending_wake_up_to_it(
    db: None, relay: ScriptedServer, broker: Any
) -> None:
    tenant = relay_tenant("Swept", relay)
    schema = tenant.tenant.schema_name
    runner = QueueRunner(broker, [tenant])
    try:
        ids = [send(tenant, n) for n in range(3)]
        assert outbox._mark_pending(services.DISPATCH_MESSAGES, schema)
        with tenant.schema():
            # the wake-up is not lost: the messages wait for it, in its place in the queue
            assert services.sweep_messages() == 0
            assert Message.objects.filter(pk__in=ids, dispatched_at=None).count() == 3
        outbox.taken(services.DISPATCH_MESSAGES, schema=schema)
        with tenant.schema():
            # none pending (taken, or its mark expired): the sweep dispatches them
            assert services.sweep_messages() == 3
        assert runner.ids_in_queue(schema) == 3
    finally:
        outbox.taken(services.DISPATCH_MESSAGES, schema=schema)
        runner.discard()


def test_a_batch_goes_out_oldest_first(
    db: None, relay: ScriptedServer, broker: Any, settings: Any
) -> None:
    tenant = relay_tenant("Ordered", relay)
    runner = QueueRunner(broker, [tenant])
    try:
        ids = [send(tenant, 7) for _ in range(25)]  # one conversation
        wake(tenant, ids[:1])
        while runner.run_next():
            pass
        # one process: the whole conversation in the order it was sent
        assert received_ids(relay) == ids
    finally:
        runner.discard()


def test_a_retry_waits_without_holding_a_place_in_flight(
    db: None, relay: ScriptedServer, broker: Any
) -> None:
    relay.replies.append(Reply(503, {"error": "busy"}, headers={"Retry-After": "30"}))
    tenant = relay_tenant("Retrying", relay)
    message_id = send(tenant)
    with tenant.schema():
        assert services.dispatch_messages() == 1
        services.deliver_messages([message_id])
        message = Message.objects.get(pk=message_id)
        assert message.status == "sending" and message.dispatched_at is None
        assert in_flight().count() == 0
        # not due yet: not dispatched
        assert services.dispatch_messages() == 0
        Message.objects.filter(pk=message_id).update(next_attempt_at=timezone.now())
        assert services.dispatch_messages() == 1
    QueueRunner(broker, [tenant]).discard()


def test_with_the_broker_down_or_its_queue_lost_the_sweep_delivers_every_message_once(
    db: None, relay: ScriptedServer, broker: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ENGIUM_DELIVERY_BATCH = 2
    tenant = relay_tenant("Outage", relay)
    ids = [send(tenant, n) for n in range(5)]
    runner = QueueRunner(broker, [tenant])
    sweep = celery_app.tasks["conversations.sweep_undelivered"]
    try:
        with tenant.schema():
            with broker_down(monkeypatch):
                assert services.dispatch_messages() == 5
            # nothing reached the broker: every message waits again, none holds a place
            assert in_flight().count() == 0
            assert Message.objects.filter(pk__in=ids, dispatched_at=None).count() == 5

        # the broker is back: the sweep dispatches them
        sweep.run()
        assert runner.ids_in_queue(tenant.tenant.schema_name) == 5
        # and the broker loses its queue (a restart without persistence)
        runner.discard()
        with tenant.schema():
            assert in_flight().count() == 5
            # past ENGIUM_REDISPATCH_AFTER_SECONDS their tasks count as lost
            lost = timezone.now() - timedelta(seconds=settings.ENGIUM_REDISPATCH_AFTER_SECONDS + 1)
            Message.objects.filter(pk__in=ids).update(dispatched_at=lost)
            assert in_flight().count() == 0
        sweep.run()
        while runner.run_next():
            pass
        assert sorted(received_ids(relay)) == sorted(ids), "each sent once"
    finally:
        runner.discard()


def test_the_dispatchers_statement_names_the_pending_statuses() -> None:
    # `_DISPATCH_SQL` writes them out, so that the partial indexes' conditions match
    assert set(PENDING_DELIVERY) == {"queued", "sending"}
    assert "status IN ('queued', 'sending')" in _DISPATCH_SQL
