"""The console's pages do what they say, through the services (Django's test client)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from conversations.models import Conversation, ConversationStatus, MessageStatusChange
from integrations.models import Integration, IntegrationStatus
from tenants.models import ApiKey
from tests.builders import create_message
from tests.conftest import TenantFixture
from webhooks.models import Delivery, Endpoint, EventType

pytestmark = pytest.mark.django_db

TWILIO_SID = "AC" + "0" * 32


def test_an_owner_connects_twilio_and_its_secret_is_never_shown_again(
    owner: Client, tenant_a: TenantFixture
) -> None:
    url = "/console/settings/integrations/new/"
    form = owner.get(url, {"channel": "sms", "provider": "twilio"})
    assert form.status_code == 200 and b"Account SID" in form.content

    # a config the provider refuses: the error is on its field, nothing is made
    refused = owner.post(
        url,
        {"channel": "sms", "provider": "twilio", "account_sid": TWILIO_SID, "auth_token": "t"},
    )
    assert refused.status_code == 400
    assert (
        "Give from_number or messaging_service_sid."
        in refused.context["form"].errors["from_number"]
    )

    answer = owner.post(
        url,
        {
            "channel": "sms",
            "provider": "twilio",
            "name": "Support line",
            "account_sid": TWILIO_SID,
            "auth_token": "the-auth-token-secret",
            "from_number": "+15550100000",
        },
    )
    assert answer.status_code == 302
    with tenant_a.schema():
        integration = Integration.objects.get(name="Support line")
    page = owner.get(answer["Location"])
    assert b"the-auth-token-secret" not in page.content
    assert f"/callbacks/{tenant_a.id}/{integration.id}/".encode() in page.content

    # an edit that leaves the secret empty keeps it
    owner.post(
        answer["Location"],
        {"name": "Renamed", "account_sid": TWILIO_SID, "from_number": "+15550100001"},
    )
    with tenant_a.schema():
        integration.refresh_from_db()
    assert integration.name == "Renamed"
    assert integration.config["auth_token"] == "the-auth-token-secret"
    assert integration.config["from_number"] == "+15550100001"


def test_an_integration_is_disabled_enabled_and_made_default(
    owner: Client, tenant_a: TenantFixture
) -> None:
    answer = owner.post(
        "/console/settings/integrations/new/",
        {"channel": "sms", "provider": "sandbox", "name": "Second SMS"},
    )
    base = answer["Location"]
    with tenant_a.schema():
        second = Integration.objects.get(name="Second SMS")
    assert not second.is_default

    owner.post(f"{base}make-default")
    owner.post(f"{base}test")
    with tenant_a.schema():
        second.refresh_from_db()
        assert second.is_default and second.verification == "verified"
    owner.post(f"{base}disable")
    with tenant_a.schema():
        second.refresh_from_db()
        first = Integration.objects.get(pk=tenant_a.integrations["sms"])
    assert second.status == IntegrationStatus.DISABLED and first.is_default


def test_webhook_endpoint_secret_test_event_and_replay(
    owner: Client, tenant_a: TenantFixture, settings: Any
) -> None:
    settings.ENGIUM_WEBHOOKS_ALLOW_PRIVATE = True
    answer = owner.post(
        "/console/settings/webhooks/",
        {"url": "http://127.0.0.1:9/hook", "events": [EventType.MESSAGE_READ.value]},
    )
    assert answer.status_code == 302
    with tenant_a.schema():
        endpoint = Endpoint.objects.get(url="http://127.0.0.1:9/hook")
    base = answer["Location"]
    assert endpoint.secrets["current"].encode() not in owner.get(base).content

    revealed = owner.post(f"{base}reveal")
    assert endpoint.secrets["current"].encode() in revealed.content
    assert revealed["Cache-Control"] == "no-store"

    owner.post(f"{base}rotate")
    owner.post(f"{base}test")
    with tenant_a.schema():
        endpoint.refresh_from_db()
        delivery = Delivery.objects.get(endpoint=endpoint)
    assert endpoint.secrets["previous"]
    log = owner.get(base, {"event_type": "webhook.test"})
    assert delivery.event_id.encode() in log.content
    assert delivery.event_id.encode() not in owner.get(base, {"status": "failed"}).content

    # replay one, and replay the failed ones
    with tenant_a.schema():
        Delivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=9)
    owner.post(f"{base}replay-failed", {"days": "1"})
    with tenant_a.schema():
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("pending", 0)
        Delivery.objects.filter(pk=delivery.pk).update(status="succeeded", attempts=1)
    owner.post(f"{base}deliveries/{delivery.event_id}/replay")
    with tenant_a.schema():
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("pending", 0)

    # replay one, and replay the failed ones
    with tenant_a.schema():
        Delivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=9)
    owner.post(f"{base}replay-failed", {"days": "1"})
    with tenant_a.schema():
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("pending", 0)
        Delivery.objects.filter(pk=delivery.pk).update(status="succeeded", attempts=1)
    owner.post(f"{base}deliveries/{delivery.event_id}/replay")
    with tenant_a.schema():
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("pending", 0)

    owner.post(f"{base}disable")
    with tenant_a.schema():
        endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_reason == "Disabled in the console."
    assert b"Disabled in the console." in owner.get(base).content
    owner.post(f"{base}enable")
    with tenant_a.schema():
        endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.disabled_reason == ""


def test_an_api_key_is_shown_once_then_revoked(owner: Client, tenant_a: TenantFixture) -> None:
    created = owner.post("/console/settings/api-keys/", {"name": "CRM"})
    raw_key = created.context["issued"].raw_key
    assert raw_key.encode() in created.content
    assert raw_key.encode() not in owner.get("/console/settings/api-keys/").content

    key = ApiKey.objects.get(tenant=tenant_a.tenant, name="CRM")
    owner.post(f"/console/settings/api-keys/{key.id}/revoke")
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_a_conversation_shows_its_thread_and_is_handed_back(
    owner: Client, tenant_a: TenantFixture
) -> None:
    message = create_message(tenant_a, recipient="+15550107001", text="Thread text")
    with tenant_a.schema():
        Conversation.objects.filter(pk=message.conversation_id).update(
            status=ConversationStatus.PENDING_HUMAN
        )
        assert MessageStatusChange.objects.filter(message=message).exists()

    listed = owner.get("/console/conversations/", {"status": "pending_human"})
    assert message.conversation_id.encode() in listed.content
    assert b"+15550107001" not in owner.get("/console/conversations/", {"status": "closed"}).content
    bad = owner.get("/console/conversations/", {"recipient": "not a number"})
    assert bad.status_code == 200 and bad.context["form"].errors["recipient"]

    url = f"/console/conversations/{message.conversation_id}/"
    page = owner.get(url)
    assert b"Thread text" in page.content and b"Hand back to agent" in page.content
    partial = owner.get(url, HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b'hx-trigger="every 1500ms"' in partial.content

    owner.post(f"{url}hand-back")
    with tenant_a.schema():
        assert Conversation.objects.get(pk=message.conversation_id).status == "active"
    again = owner.post(f"{url}hand-back", follow=True)  # not pending_human any more: said so
    assert b"only a conversation handed off" in again.content
    assert owner.get("/console/conversations/sess_missing/").status_code == 404


def test_the_overview_charts_sends_by_channel(owner: Client, tenant_a: TenantFixture) -> None:
    create_message(tenant_a, recipient="+15550107002", channel="sms")
    page = owner.get("/console/")
    assert page.status_code == 200
    assert b"<svg" in page.content and b"queued" in page.content
    sms = next(chart for chart in page.context["charts"] if chart.title == "SMS")
    assert sms.total >= 1 and sms.bars
    assert page.context["rate_limit"] == tenant_a.tenant.effective_rate_limit


def test_an_owner_connects_whatsapp_cloud_with_its_business_account(
    owner: Client, tenant_a: TenantFixture
) -> None:
    fields = {
        "channel": "whatsapp",
        "provider": "whatsapp_cloud",
        "name": "Meta",
        "phone_number_id": "1234567890",
        "business_account_id": "not digits",
        "access_token": "meta-access-token",
        "app_secret": "meta-app-secret",
        "verify_token": "meta-verify-token",
    }
    refused = owner.post("/console/settings/integrations/new/", fields)
    assert refused.context["form"].errors["business_account_id"] == [
        "business_account_id is the WhatsApp Business Account's ID (digits)."
    ]
    answer = owner.post(
        "/console/settings/integrations/new/", {**fields, "business_account_id": "9876543210"}
    )
    assert answer.status_code == 302
    page = owner.get(answer["Location"])
    assert b"9876543210" in page.content
    for secret in (b"meta-access-token", b"meta-app-secret", b"meta-verify-token"):
        assert secret not in page.content
