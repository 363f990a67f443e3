"""The worker's way of sending (`webhooks.services.sending`): a task claims and starts its
deliveries and returns; the process's recorder thread records the outcomes.

The recorder has a database connection of its own, so these tests commit their rows (no
test transaction, `django_db_blocker.unblock()`) and remove them afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.conftest import TenantFixture
from tests.http_server import ScriptedServer
from webhooks.models import Attempt, Delivery, DeliveryStatus, EventType
from webhooks.services import create_endpoint, drain_deliveries, raise_event, start_deliveries
from webhooks.services import sending as sending_service


@pytest.fixture
def held_receiver() -> Iterator[tuple[ScriptedServer, threading.Event]]:
    """A receiver that answers only once the test releases it."""
    release = threading.Event()
    with ScriptedServer() as server:
        original = server.httpd.RequestHandlerClass.do_POST  # type: ignore[attr-defined]

        def held(handler: Any) -> None:
            release.wait(30)
            original(handler)

        server.httpd.RequestHandlerClass.do_POST = held  # type: ignore[attr-defined]
        try:
            yield server, release
        finally:
            release.set()


@pytest.mark.django_db  # also makes pytest-django create the test database when run alone
def test_a_process_that_started_nothing_has_nothing_to_drain() -> None:
    assert drain_deliveries(timeout=0)


def message_event(status: str) -> dict[str, Any]:
    return {"id": "msg_sendingtest000000000001", "status": status}


def test_a_task_returns_while_the_endpoint_answers_and_the_outcome_is_recorded(
    committed: TenantFixture, held_receiver: tuple[ScriptedServer, threading.Event]
) -> None:
    receiver, release = held_receiver
    with committed.schema():
        endpoint = create_endpoint(url=receiver.url, events=["*"])
        raise_event(EventType.MESSAGE_DELIVERED, message_event("delivered"))
        delivery = Delivery.objects.get()

        assert start_deliveries([str(delivery.pk)]) == 1
        # returned with the request still unanswered: leased, in flight, not yet recorded
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
        assert delivery.claimed_until is not None
        assert sending_service.recorder.in_flight == 1
        assert not Attempt.objects.exists()

        release.set()
        assert drain_deliveries(timeout=30)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.claimed_until) == (DeliveryStatus.SUCCEEDED, None)
        assert Attempt.objects.get(delivery=delivery).status_code == 200
    (received,) = receiver.received
    Webhook(endpoint.secrets["current"]).verify(received.body, received.headers)


def test_the_next_event_of_a_message_is_published_when_the_previous_is_recorded(
    committed: TenantFixture,
    held_receiver: tuple[ScriptedServer, threading.Event],
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    settings.ENGIUM_DISPATCH_IN_BACKGROUND = False  # the events' own publish, here and now
    receiver, release = held_receiver
    published: list[list[str]] = []
    monkeypatch.setattr(
        sending_service.outbox,
        "publish",
        lambda name, *, schema, args, **kw: published.append(list(args[0])) or True,
    )
    with committed.schema():
        endpoint = create_endpoint(url=receiver.url, events=["*"])
        raise_event(EventType.MESSAGE_DELIVERED, message_event("delivered"))
        raise_event(EventType.MESSAGE_READ, message_event("read"))
        first, second = Delivery.objects.order_by("id")
        published.clear()

        # `read` waits for `delivered` (same endpoint and message), left to the sweep
        assert start_deliveries([str(first.pk), str(second.pk)]) == 1
        second.refresh_from_db()
        assert (second.attempts, second.dispatched_at) == (0, None)

        release.set()
        assert drain_deliveries(timeout=30)
        # recorded `delivered` freed it: published at once, and marked so the sweep does not
        assert published == [[str(second.pk)]]
        second.refresh_from_db()
        assert second.dispatched_at is not None

        assert start_deliveries(published[0]) == 1  # the task a worker would run
        assert drain_deliveries(timeout=30)
        assert set(Delivery.objects.values_list("status", flat=True)) == {"succeeded"}
    verifier = Webhook(endpoint.secrets["current"])
    types = [verifier.verify(r.body, r.headers)["type"] for r in receiver.received]
    assert types == ["conversation.message.delivered", "conversation.message.read"]
