"""A dispatched batch goes to an HTTP provider at once, and each message keeps its own outcome.

Twilio's and WhatsApp Cloud's `send` is only an HTTP call (`Provider.sends_concurrently`), so
`deliver_batch` claims the batch in one transaction, calls the provider for every message of
it at once from the process's sender threads, and records the outcomes on the task's thread.
These tests run the real adapters against fake providers over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from conversations.models import Message
from conversations.services import deliver_messages
from conversations.services.delivery import deliver_batch
from integrations.models import ProviderLogEntry
from tests.builders import create_integration, create_message
from tests.conftest import TenantFixture
from tests.fakes import FakeGraph, FakeTwilio, fixture, form_of
from tests.http_server import Received, Reply


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


class InFlight:
    """Counts the requests a fake is answering at the same moment; each waits ``hold`` s."""

    def __init__(self, answer: Any, hold: float = 0.3) -> None:
        self.answer, self.hold = answer, hold
        self.now = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, received: Received) -> Any:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(self.hold)
        with self.lock:
            self.now -= 1
        return self.answer(received)


def _queued(tenant: TenantFixture, count: int, channel: str = "sms") -> list[str]:
    return [
        create_message(tenant, recipient=f"+1555010{7000 + n}", channel=channel, text=f"m{n}").id
        for n in range(count)
    ]


def test_a_batch_is_sent_to_twilio_at_once(tenant_a: TenantFixture, twilio_api: FakeTwilio) -> None:
    create_integration(tenant_a, "sms", "twilio", is_default=True, **twilio_api.config())
    ids = _queued(tenant_a, 5)
    in_flight = InFlight(twilio_api._created)
    twilio_api.default = Reply(status=201, body=in_flight)
    with tenant_a.schema():
        assert deliver_messages(ids) == 5
        messages = Message.objects.in_bulk(ids)
    # all five were with the provider at the same moment, not one after another
    assert in_flight.most == 5
    assert {message.status for message in messages.values()} == {"sent"}
    sids = {form_of(r)["Body"]: r for r in twilio_api.sends()}
    assert len(sids) == 5
    assert len({message.provider_message_id for message in messages.values()}) == 5
    with tenant_a.schema():
        # each send has its own line in the provider log, and its own history
        assert ProviderLogEntry.objects.filter(message_id__in=ids).count() == 5
        for message in messages.values():
            history = list(message.status_history.values_list("status", flat=True))
            assert sorted(history) == ["queued", "sending", "sent"]


def test_each_message_of_a_batch_keeps_its_own_outcome(
    tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    create_integration(tenant_a, "sms", "twilio", is_default=True, **twilio_api.config())
    ids = _queued(tenant_a, 4)
    refused, busy = "+15550107001", "+15550107002"

    def route(received: Received) -> Reply | None:
        to = form_of(received).get("To") if received.method == "POST" else None
        if to == refused:
            return Reply(status=400, body=fixture("twilio", "error__invalid_to"))
        if to == busy:
            return Reply(status=503, body={"message": "unavailable"})
        return None

    twilio_api.route = route
    with tenant_a.schema():
        delivered = deliver_batch(ids)
        assert [message.id for message in delivered] == ids  # in the batch's order
        messages = Message.objects.in_bulk(ids)
        assert ProviderLogEntry.objects.filter(message_id__in=ids).count() == 4
    first, failed, waiting, last = (messages[message_id] for message_id in ids)
    assert first.status == last.status == "sent"
    assert failed.status == "failed" and failed.error_code == "21211"
    # the transient one waits for its retry: not in flight, due later, error kept
    assert waiting.status == "sending" and waiting.dispatched_at is None
    assert waiting.next_attempt_at is not None and waiting.error_code
    assert not waiting.outcome_unknown  # a 503 is an answer: the provider did not take it


def test_a_batch_can_mix_providers_and_channels(
    tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    with FakeGraph() as graph_api:
        create_integration(tenant_a, "sms", "twilio", is_default=True, **twilio_api.config())
        create_integration(
            tenant_a,
            "whatsapp",
            "whatsapp_cloud",
            is_default=True,
            **graph_api.config(session_window=False),
        )
        sms = _queued(tenant_a, 2)
        whatsapp = _queued(tenant_a, 2, channel="whatsapp")
        ids = [sms[0], whatsapp[0], sms[1], whatsapp[1]]
        with tenant_a.schema():
            assert deliver_messages(ids) == 4
            messages = Message.objects.in_bulk(ids)
        assert {message.status for message in messages.values()} == {"sent"}
        assert len(twilio_api.sends()) == 2
        assert len([r for r in graph_api.received if r.method == "POST"]) == 2


def test_a_batch_sends_none_twice_when_delivered_twice(
    tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    # The same batch in two tasks (a re-dispatch after a lost task): the second finds every
    # message taken and sends nothing.
    create_integration(tenant_a, "sms", "twilio", is_default=True, **twilio_api.config())
    ids = _queued(tenant_a, 3)
    with tenant_a.schema():
        assert len(deliver_batch(ids)) == 3
        assert deliver_batch(ids) == []
    assert len(twilio_api.sends()) == 3
