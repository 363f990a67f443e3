"""The first message of the public page, end to end, through real processes."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Stack, Tenant, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

FIRST_MESSAGE = {
    "recipient": "+15550102999",
    "channel": "whatsapp",
    "message": {"text": "Hello from Engium! How can we help you today?"},
}


def _status_path(tenant: Tenant, message_id: str) -> list[str]:
    answer = tenant.client.get(f"messages/{message_id}")
    assert answer.status_code == 200, answer.text
    return [step["status"] for step in answer.json()["status_history"]]


def test_first_message_is_delivered_then_read(stack: Stack, live_tenant: Tenant) -> None:
    # when
    answer = live_tenant.client.post("conversations/send", json=FIRST_MESSAGE)

    # then
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["id"].startswith("sess_") and body["status"] == "active"
    assert body["channel"] == "whatsapp" and body["message"]["status"] == "queued"
    message_id = body["message"]["id"]
    try:
        seen_delivered = wait_until(
            lambda: "delivered" in _status_path(live_tenant, message_id), 30, "delivered"
        )
        assert seen_delivered
        history = wait_until(
            lambda: (path := _status_path(live_tenant, message_id))[-1] == "read" and path,
            30,
            "read",
        )
    except AssertionError:
        print(stack.logs())
        raise
    assert history == ["queued", "sending", "sent", "delivered", "read"]
    message = live_tenant.client.get(f"messages/{message_id}").json()
    assert message["status"] == "read" and message["attempts"] == 1

    # the events a webhook endpoint would be told, in order
    from django_tenants.utils import schema_context

    from tenants.models import Tenant as TenantModel
    from webhooks.models import Event

    schema = TenantModel.objects.get(public_id=live_tenant.id).schema_name
    with schema_context(schema):
        types = list(Event.objects.order_by("id").values_list("type", flat=True))
    assert types == [
        "conversation.created",
        "conversation.message.sent",
        "conversation.message.delivered",
        "conversation.message.read",
    ]


def test_sms_is_delivered_but_never_read_and_0001_fails(stack: Stack, live_tenant: Tenant) -> None:
    sms = live_tenant.client.post(
        "conversations/send", json={**FIRST_MESSAGE, "channel": "sms"}
    ).json()["message"]["id"]
    failing = live_tenant.client.post(
        "conversations/send", json={**FIRST_MESSAGE, "recipient": "+15550100001"}
    ).json()["message"]["id"]

    wait_until(lambda: _status_path(live_tenant, sms)[-1] == "delivered", 30, "sms delivered")
    wait_until(lambda: _status_path(live_tenant, failing)[-1] == "failed", 30, "0001 failed")
    failed = live_tenant.client.get(f"messages/{failing}").json()
    assert failed["error_code"] == "sandbox_unreachable"
    assert _status_path(live_tenant, failing) == ["queued", "sending", "failed"]
