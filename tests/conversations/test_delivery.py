"""Delivery through providers: claiming, retries with backoff, failures, the outbox sweep."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from conversations import services
from conversations.models import Message
from conversations.services.delivery import backoff_seconds
from integrations.models import Integration
from integrations.providers.registry import get_provider
from tests.builders import create_integration, sent_message_id
from tests.conftest import ApiClient, TenantFixture, make_tenant
from tests.http_server import Reply, ScriptedServer
from webhooks.models import Event


@pytest.fixture
def relay_provider(settings: Any) -> Iterator[None]:
    settings.ENGIUM_PROVIDERS = {
        **settings.ENGIUM_PROVIDERS,
        "relay": "tests.providers.RelayProvider",
    }
    get_provider.cache_clear()
    yield
    get_provider.cache_clear()


@pytest.fixture
def relay_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def relay_tenant(db: None, relay_provider: None, relay_server: ScriptedServer) -> TenantFixture:
    tenant = make_tenant("Relay", channels=())
    relay = create_integration(tenant, "sms", "relay", base_url=relay_server.url, token="t")
    tenant.integrations["sms"] = relay.id
    return tenant


def _history(message: Message) -> list[str]:
    return list(
        message.status_history.order_by("occurred_at", "id").values_list("status", flat=True)
    )


def test_sandbox_send_is_sent_at_once(api: ApiClient, tenant_a: TenantFixture) -> None:
    message_id = sent_message_id(api, tenant_a)
    with tenant_a.schema():
        message = services.deliver_message(message_id)
        assert message is not None
        message.refresh_from_db()
        assert message.status == "sent"
        assert message.provider_message_id and message.provider_message_id.startswith("sbx_")
        assert message.attempts == 1 and message.next_attempt_at is None
        assert _history(message) == ["queued", "sending", "sent"]
        assert Event.objects.filter(type="conversation.message.sent").count() == 1


def test_sandbox_failing_number_fails_with_provider_code(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    message_id = sent_message_id(api, tenant_a, recipient="+15550100001")
    with tenant_a.schema():
        services.deliver_message(message_id)
        message = Message.objects.get(pk=message_id)
        assert message.status == "failed"
        assert message.error_code == "sandbox_unreachable"
        assert _history(message) == ["queued", "sending", "failed"]
        event = Event.objects.get(type="conversation.message.failed")
        assert event.data["id"] == message_id and event.data["error_code"] == "sandbox_unreachable"


def test_a_delivered_message_is_not_sent_again(api: ApiClient, tenant_a: TenantFixture) -> None:
    message_id = sent_message_id(api, tenant_a)
    with tenant_a.schema():
        services.deliver_message(message_id)
        assert services.deliver_message(message_id) is None
        assert Message.objects.get(pk=message_id).attempts == 1


def test_transient_error_retries_later_with_the_same_idempotency_key(
    api: ApiClient, relay_tenant: TenantFixture, relay_server: ScriptedServer
) -> None:
    # given: the provider is overloaded once
    relay_server.replies.append(Reply(503, {"error": "busy"}, headers={"Retry-After": "7"}))
    relay_server.replies.append(Reply(200, {"id": "relay-1"}))
    message_id = sent_message_id(api, relay_tenant, channel="sms")

    with relay_tenant.schema():
        # when
        before = timezone.now()
        services.deliver_message(message_id)

        # then: still sending, retry due after Retry-After
        message = Message.objects.get(pk=message_id)
        assert message.status == "sending" and message.attempts == 1
        assert message.error_code == "relay_http_503"
        assert message.next_attempt_at is not None
        assert timedelta(seconds=6) < message.next_attempt_at - before < timedelta(seconds=9)
        # a task arriving early does nothing
        assert services.deliver_message(message_id) is None

        # when the retry is due
        Message.objects.filter(pk=message_id).update(next_attempt_at=timezone.now())
        services.deliver_message(message_id)

        message.refresh_from_db()
        assert message.status == "sent" and message.attempts == 2
        assert message.provider_message_id == "relay-1" and message.error_code == ""
        assert _history(message) == ["queued", "sending", "sent"]
    keys = [request.headers["Idempotency-Key"] for request in relay_server.received]
    assert keys == [message_id, message_id]


def test_permanent_error_fails_at_once_with_the_providers_code(
    api: ApiClient, relay_tenant: TenantFixture, relay_server: ScriptedServer
) -> None:
    relay_server.replies.append(Reply(400, {"error": {"code": "21211", "message": "Invalid To"}}))
    message_id = sent_message_id(api, relay_tenant, channel="sms")
    with relay_tenant.schema():
        services.deliver_message(message_id)
        message = Message.objects.get(pk=message_id)
    assert message.status == "failed"
    assert (message.error_code, message.error_message) == ("21211", "Invalid To")
    assert len(relay_server.received) == 1


def test_timeouts_are_transient(
    api: ApiClient, relay_tenant: TenantFixture, relay_server: ScriptedServer, settings: Any
) -> None:
    settings.ENGIUM_PROVIDER_TIMEOUT_SECONDS = 0.3
    relay_server.replies.append(Reply(200, {"id": "late"}, delay=1.0))
    message_id = sent_message_id(api, relay_tenant, channel="sms")
    with relay_tenant.schema():
        services.deliver_message(message_id)
        message = Message.objects.get(pk=message_id)
    assert message.status == "sending" and message.error_code == "relay_timeout"


def test_giving_up_after_the_last_attempt(
    api: ApiClient, relay_tenant: TenantFixture, relay_server: ScriptedServer, settings: Any
) -> None:
    settings.ENGIUM_DELIVERY_MAX_ATTEMPTS = 2
    relay_server.default = Reply(502, {})
    message_id = sent_message_id(api, relay_tenant, channel="sms")
    with relay_tenant.schema():
        services.deliver_message(message_id)
        Message.objects.filter(pk=message_id).update(next_attempt_at=timezone.now())
        services.deliver_message(message_id)
        message = Message.objects.get(pk=message_id)
    assert message.status == "failed" and message.error_code == "relay_http_502"
    assert message.attempts == 2 and message.next_attempt_at is None


def test_unreachable_provider_is_transient(api: ApiClient, relay_provider: None, db: None) -> None:
    tenant = make_tenant("Down", channels=())
    create_integration(tenant, "sms", "relay", base_url="http://127.0.0.1:9")
    message_id = sent_message_id(api, tenant, channel="sms")
    with tenant.schema():
        services.deliver_message(message_id)
        message = Message.objects.get(pk=message_id)
    assert message.status == "sending" and message.error_code == "relay_unreachable"


def test_removed_integration_fails_the_message(api: ApiClient, db: None) -> None:
    tenant = make_tenant("Removed", channels=("sms",))
    message_id = sent_message_id(api, tenant, channel="sms")
    with tenant.schema():
        Integration.objects.all().delete()
        services.deliver_message(message_id)
        message = Message.objects.get(pk=message_id)
    assert message.status == "failed" and message.error_code == "integration_unavailable"


def test_a_claimed_message_is_left_to_its_worker(api: ApiClient, tenant_a: TenantFixture) -> None:
    message_id = sent_message_id(api, tenant_a)
    with tenant_a.schema():
        # another worker holds the lease
        Message.objects.filter(pk=message_id).update(
            status="sending", next_attempt_at=timezone.now() + timedelta(seconds=60)
        )
        assert services.deliver_message(message_id) is None
        # the lease ran out (that worker died): the message is taken over
        Message.objects.filter(pk=message_id).update(next_attempt_at=timezone.now())
        assert services.deliver_message(message_id) is not None
        assert Message.objects.get(pk=message_id).status == "sent"


def test_the_sweep_dispatches_waiting_and_lost_messages_not_those_in_flight(
    api: ApiClient, tenant_a: TenantFixture, settings: Any
) -> None:
    from engium.celery import app

    settings.ENGIUM_DELIVERY_BATCH = 1  # one task per message, to count them
    broker = app.connection_for_write().default_channel.client
    lost, waiting = sent_message_id(api, tenant_a), sent_message_id(api, tenant_a, channel="sms")
    in_flight = sent_message_id(api, tenant_a, channel="voice")
    with tenant_a.schema():
        now = timezone.now()
        long_ago = now - timedelta(minutes=5)
        Message.objects.filter(pk=lost).update(dispatched_at=long_ago, next_attempt_at=long_ago)
        Message.objects.filter(pk=in_flight).update(dispatched_at=now - timedelta(seconds=10))
        queued_before = broker.llen("delivery")

        assert services.dispatch_messages() == 2

        assert broker.llen("delivery") == queued_before + 2
        assert Message.objects.get(pk=lost).dispatched_at > long_ago
        assert Message.objects.get(pk=waiting).dispatched_at is not None
        # dispatched just now: not again until ENGIUM_REDISPATCH_AFTER_SECONDS pass
        assert services.dispatch_messages() == 0
    ours = [
        raw
        for raw in broker.lrange("delivery", 0, -1)
        if lost in raw.decode() or waiting in raw.decode()
    ]
    assert len(ours) == 2
    assert not [raw for raw in broker.lrange("delivery", 0, -1) if in_flight in raw.decode()]
    for raw in ours:
        broker.lrem("delivery", 1, raw)  # leave the queue as found


@pytest.mark.parametrize("attempt", [1, 2, 3, 6, 20])
def test_backoff_is_exponential_with_jitter_and_capped(attempt: int) -> None:
    expected = min(
        settings.ENGIUM_DELIVERY_BACKOFF_BASE_SECONDS * 2 ** (attempt - 1),
        settings.ENGIUM_DELIVERY_BACKOFF_MAX_SECONDS,
    )
    samples = [backoff_seconds(attempt) for _ in range(50)]
    assert all(0.8 * expected <= sample <= 1.2 * expected for sample in samples)
    assert len(set(samples)) > 1, "jitter spreads retries"
