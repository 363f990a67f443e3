"""The worker's way of delivering (`conversations.services.sending`): a task claims and
prepares its batch, starts the HTTP sends and returns; the process's recorder thread
records the outcomes, then runs the tenant's next dispatch.

The recorder has a database connection of its own, so these tests commit their rows (no
test transaction, `django_db_blocker.unblock()`) and remove them afterwards. The real
Twilio adapter talks to a fake Twilio over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from conversations.models import Conversation, Message
from conversations.services import deliver_messages, dispatch_messages, drain_sends
from conversations.services import sending as sending_service
from integrations.models import Integration, ProviderLogEntry
from tests.builders import create_integration, create_message
from tests.conftest import _SESSION_TENANTS, TenantFixture
from tests.fakes import FakeTwilio
from tests.http_server import Received, Reply
from webhooks.models import Delivery, Event


@pytest.fixture
def committed(
    django_db_setup: None, django_db_blocker: Any, settings: Any
) -> Iterator[TenantFixture]:
    """Tenant A with the database open outside any test transaction (the recorder's
    connection sees the rows); emptied of messages and integrations after. The sends'
    wake-ups are published in the test's thread (to a queue no worker reads here)."""
    settings.ENGIUM_DISPATCH_IN_BACKGROUND = False
    tenant = _SESSION_TENANTS["a"]
    with django_db_blocker.unblock():
        try:
            yield tenant
        finally:
            drain_sends(timeout=30)
            with tenant.schema():
                ProviderLogEntry.objects.all().delete()
                Message.objects.all().delete()
                Conversation.objects.all().delete()
                Integration.objects.all().delete()
                Delivery.objects.all().delete()
                Event.objects.all().delete()


class Held:
    """A fake Twilio's answer that waits until the test releases it."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.release = threading.Event()
        self.arrived = threading.Semaphore(0)

    def __call__(self, received: Received) -> Any:
        self.arrived.release()
        self.release.wait(30)
        return self.answer(received)


@pytest.fixture
def held_twilio() -> Iterator[tuple[FakeTwilio, Held]]:
    with FakeTwilio() as server:
        held = Held(server._created)
        server.default = Reply(status=201, body=held)
        try:
            yield server, held
        finally:
            held.release.set()


@pytest.fixture
def held_sms(
    committed: TenantFixture, held_twilio: tuple[FakeTwilio, Held]
) -> tuple[FakeTwilio, Held]:
    """Tenant A's SMS goes to the held fake Twilio."""
    twilio_api, _ = held_twilio
    create_integration(committed, "sms", "twilio", is_default=True, **twilio_api.config())
    return held_twilio


def _queued(tenant: TenantFixture, count: int) -> list[str]:
    return [
        create_message(tenant, recipient=f"+1555010{7100 + n}", channel="sms", text=f"s{n}").id
        for n in range(count)
    ]


@pytest.mark.django_db  # also makes pytest-django create the test database when run alone
def test_a_process_that_started_nothing_has_nothing_to_drain() -> None:
    assert drain_sends(timeout=0)


def test_a_task_returns_while_the_provider_answers_and_the_batch_is_recorded_after(
    committed: TenantFixture, held_sms: tuple[FakeTwilio, Held]
) -> None:
    twilio_api, held = held_sms
    ids = _queued(committed, 3)
    followed: list[str] = []

    with committed.schema():
        assert sending_service.start_batch(ids, then=lambda: followed.append("next")) == 3
        for _ in ids:  # every send is with the provider at once
            assert held.arrived.acquire(timeout=10)
        # returned with the provider yet to answer: leased, in flight, nothing recorded
        messages = Message.objects.in_bulk(ids)
        assert {message.status for message in messages.values()} == {"sending"}
        assert all(message.outcome_unknown for message in messages.values())
        assert sending_service.recorder.in_flight == 3
        assert followed == []

        held.release.set()
        assert drain_sends(timeout=30)
        messages = Message.objects.in_bulk(ids)
        assert {message.status for message in messages.values()} == {"sent"}
        assert not any(message.outcome_unknown for message in messages.values())
        assert len({message.provider_message_id for message in messages.values()}) == 3
        assert ProviderLogEntry.objects.filter(message_id__in=ids).count() == 3
    assert followed == ["next"]  # the tenant's next dispatch, once, after the record
    assert len(twilio_api.sends()) == 3


def test_a_batch_with_nothing_to_send_over_http_is_recorded_on_the_tasks_thread(
    committed: TenantFixture,
) -> None:
    create_integration(committed, "sms", "sandbox", is_default=True)
    ids = _queued(committed, 2)
    followed: list[str] = []
    with committed.schema():
        assert sending_service.start_batch(ids, then=lambda: followed.append("next")) == 2
        # already recorded when the task returns: the sandbox has no provider to wait for
        assert sending_service.recorder.in_flight == 0
        assert {m.status for m in Message.objects.filter(pk__in=ids)} == {"sent"}
    assert followed == ["next"]


def test_a_process_with_its_senders_busy_takes_no_more_until_a_batch_is_recorded(
    committed: TenantFixture, held_sms: tuple[FakeTwilio, Held], settings: Any
) -> None:
    settings.ENGIUM_DELIVERY_SENDERS = 2
    _, held = held_sms
    first, second = _queued(committed, 2), _queued(committed, 1)
    with committed.schema():
        assert sending_service.start_batch(first, then=lambda: None) == 2
    assert sending_service.recorder.in_flight == 2
    started = threading.Event()

    def next_task() -> None:
        with committed.schema():
            sending_service.start_batch(second, then=lambda: None)
        started.set()

    waiting = threading.Thread(target=next_task)
    waiting.start()
    # the next task waits for room: its message is not even claimed
    assert not started.wait(0.5)
    with committed.schema():
        assert Message.objects.get(pk=second[0]).status == "queued"
    held.release.set()
    waiting.join(30)
    assert started.is_set()
    assert drain_sends(timeout=30)
    with committed.schema():
        assert {m.status for m in Message.objects.filter(pk__in=first + second)} == {"sent"}


def test_a_wake_up_starts_its_first_batch_and_publishes_the_rest(
    committed: TenantFixture, held_sms: tuple[FakeTwilio, Held], settings: Any
) -> None:
    settings.ENGIUM_DELIVERY_BATCH = 2
    twilio_api, held = held_sms
    held.release.set()
    ids = _queued(committed, 3)
    with committed.schema():
        assert dispatch_messages(woken=True, wait=False) == 3
        assert drain_sends(timeout=30)
        messages = Message.objects.in_bulk(ids)
        # the first batch was claimed and sent by the wake-up itself
        assert [messages[pk].status for pk in ids[:2]] == ["sent", "sent"]
        # the rest went to the queue as a batch task: dispatched, not yet claimed
        assert messages[ids[2]].status == "queued" and messages[ids[2]].dispatched_at
        assert deliver_messages([ids[2]], wait=False) == 1
        assert drain_sends(timeout=30)
        assert Message.objects.get(pk=ids[2]).status == "sent"
    assert len(twilio_api.sends()) == 3
