"""What must hold when parts fail: a down cache, odd providers, stuck or lost deliveries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from conversations import services
from conversations.models import Message
from engium.celery import app as celery_app
from integrations.models import Integration
from tests.builders import create_integration, sent_message_id
from tests.conftest import ApiClient, TenantFixture, error_of, make_tenant


def test_a_plain_worker_consumes_every_queue() -> None:
    # `celery -A engium worker` with no -Q must take delivery tasks too.
    assert set(celery_app.amqp.queues.consume_from) >= {"delivery", "webhooks", "agents", "default"}


def test_the_api_works_while_the_cache_is_down(
    api: ApiClient, tenant_a: TenantFixture, settings: Any
) -> None:
    # given: the cache's Redis does not answer
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }

    # then: authentication and routing fall back to the database
    answer = api.send(tenant_a)
    assert answer.status_code == 201, answer.content
    assert api.get("conversations", tenant=tenant_a).status_code == 200
    wrong = api.get(
        "conversations", tenant=tenant_a, headers={"HTTP_AUTHORIZATION": "Bearer egk_x"}
    )
    assert wrong.status_code == 401


def test_a_provider_that_confirms_later_is_not_sent_again(api: ApiClient, db: None) -> None:
    tenant = make_tenant("Slow carrier", channels=())
    create_integration(tenant, "sms", timetable={"sent": 600, "delivered": 600})
    message_id = sent_message_id(api, tenant, channel="sms")
    with tenant.schema():
        services.deliver_message(message_id)
        message = Message.objects.get(pk=message_id)
        # accepted, `sent` not confirmed yet: nothing is due, so nothing resends it
        assert message.status == "sending" and message.provider_message_id.startswith("sbx_")
        assert message.next_attempt_at is None
        Message.objects.filter(pk=message_id).update(
            dispatched_at=timezone.now() - timedelta(days=1)
        )
        assert services.dispatch_messages() == 0
        assert services.deliver_message(message_id) is None


def test_an_unexpected_error_is_retried_then_fails(api: ApiClient, db: None, settings: Any) -> None:
    settings.ENGIUM_DELIVERY_MAX_ATTEMPTS = 2
    tenant = make_tenant("Broken config", channels=("sms",))
    message_id = sent_message_id(api, tenant, channel="sms")
    with tenant.schema():
        # a config the provider cannot read (as if stored by an older version)
        Integration.objects.filter(channel="sms").update(config={"timetable": "soon"})
        services.deliver_message(message_id)
        message = Message.objects.get(pk=message_id)
        assert message.status == "sending" and message.error_code == "internal_error"

        Message.objects.filter(pk=message_id).update(next_attempt_at=timezone.now())
        services.deliver_message(message_id)
        message.refresh_from_db()
    assert message.status == "failed" and message.error_code == "internal_error"


def test_a_message_whose_worker_keeps_dying_fails_after_the_last_attempt(
    api: ApiClient, tenant_a: TenantFixture, settings: Any
) -> None:
    message_id = sent_message_id(api, tenant_a)
    with tenant_a.schema():
        # every earlier worker died holding it: the lease ran out each time
        Message.objects.filter(pk=message_id).update(
            status="sending", attempts=settings.ENGIUM_DELIVERY_MAX_ATTEMPTS
        )
        services.deliver_message(message_id)
        message = Message.objects.get(pk=message_id)
    assert message.status == "failed" and message.error_code == "attempts_exhausted"


def test_a_failed_publish_is_swept_at_once(
    api: ApiClient, tenant_a: TenantFixture, settings: Any
) -> None:
    settings.ENGIUM_REDISPATCH_AFTER_SECONDS = 3600
    message_id = sent_message_id(api, tenant_a)
    with tenant_a.schema():
        # its wake-up was lost: the message waits, and the sweep dispatches it at once
        assert services.dispatch_messages() == 1
        # dispatched a moment ago: left to its task
        assert services.dispatch_messages() == 0
        # the publish failed
        services.mark_undispatched([message_id])
        assert services.dispatch_messages() == 1
        assert Message.objects.get(pk=message_id).dispatched_at is not None
    with celery_app.connection_for_write() as broker_connection:
        broker = broker_connection.default_channel.client
        ours = [raw for raw in broker.lrange("delivery", 0, -1) if message_id in raw.decode()]
        assert len(ours) == 2
        for raw in ours:
            broker.lrem("delivery", 1, raw)  # leave the queue as found


@pytest.mark.parametrize(
    "path",
    [
        "messages/%00",
        "messages/msg_%00",
        "conversations/sess_" + "0" * 25 + "%00",
        "conversations/..%2F..%2Fadmin/close",
        "integrations/intg_" + "Z" * 26,
    ],
)
def test_malformed_ids_in_the_path_are_404(
    api: ApiClient, tenant_a: TenantFixture, path: str
) -> None:
    answer = api.get(path, tenant=tenant_a)
    assert answer.status_code == 404
    assert error_of(answer)["code"] == "not_found"


def test_an_unparseable_media_url_is_a_validation_error(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    answer = api.send(tenant_a, message={"media_url": "https://[::1", "media_type": "image"})
    assert answer.status_code == 400
    assert error_of(answer)["code"] == "validation_error"
