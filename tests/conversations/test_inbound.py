"""Recipients writing in (the sandbox's inbound simulator), and closing idle conversations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from conversations import services
from conversations.models import Conversation, ConversationStatus, Message
from engium.ids import new_id
from integrations.models import Integration
from tests.builders import events_of, post_inbound, send_ok
from tests.conftest import ApiClient, TenantFixture, error_of
from webhooks.models import EventType

# ------------------------------------------------------------------ sandbox inbound


def test_inbound_opens_a_conversation(api: ApiClient, tenant_a: TenantFixture) -> None:
    # when a recipient with no conversation writes in
    response = post_inbound(api, tenant_a, **{"from": "+15550105001", "text": "Hi, I need help"})

    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"].startswith("msg_")
    assert body["direction"] == "inbound"
    assert body["status"] == "received"
    assert body["text"] == "Hi, I need help"
    assert body["recipient"] == "+15550105001"
    assert [step["status"] for step in body["status_history"]] == ["received"]
    with tenant_a.schema():
        conversation = Conversation.objects.get(pk=body["conversation_id"])
        assert Message.objects.filter(conversation=conversation).count() == 1
    assert (conversation.channel, conversation.recipient) == ("whatsapp", "+15550105001")
    assert conversation.status == ConversationStatus.ACTIVE
    assert conversation.integration_id == tenant_a.integrations["whatsapp"]
    assert [e.type for e in events_of(tenant_a)] == [
        EventType.CONVERSATION_CREATED,
        EventType.MESSAGE_RECEIVED,
    ]
    created, received = events_of(tenant_a)
    assert created.data["id"] == conversation.pk
    assert received.data["id"] == body["id"]
    assert received.data["direction"] == "inbound"
    assert received.data["conversation_id"] == conversation.pk


def test_inbound_joins_the_open_conversation(api: ApiClient, tenant_a: TenantFixture) -> None:
    # given an open conversation started by a send, a while ago
    sent = send_ok(api, tenant_a, recipient="+15550105002")
    long_ago = timezone.now() - timedelta(hours=3)
    with tenant_a.schema():
        Conversation.objects.filter(pk=sent["id"]).update(last_activity_at=long_ago)

    # when the recipient answers (formatted differently)
    response = post_inbound(api, tenant_a, **{"from": "+1 (555) 010-5002", "text": "Thanks"})

    # then the answer joins it, and refreshes its activity
    assert response.status_code == 201, response.content
    assert response.json()["conversation_id"] == sent["id"]
    assert len(events_of(tenant_a, EventType.CONVERSATION_CREATED)) == 1
    assert len(events_of(tenant_a, EventType.MESSAGE_RECEIVED)) == 1
    with tenant_a.schema():
        conversation = Conversation.objects.get(pk=sent["id"])
        assert Conversation.objects.count() == 1
    assert conversation.last_activity_at > long_ago + timedelta(hours=2)
    detail = api.get(f"conversations/{sent['id']}", tenant=tenant_a).json()
    assert [m["direction"] for m in detail["messages"]] == ["outbound", "inbound"]


def test_inbound_on_another_channel_opens_its_own_conversation(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    whatsapp = send_ok(api, tenant_a, recipient="+15550105003")

    sms = post_inbound(api, tenant_a, "sms", **{"from": "+15550105003", "text": "by sms"}).json()

    assert sms["conversation_id"] != whatsapp["id"]
    assert sms["channel"] == "sms"
    assert len(events_of(tenant_a, EventType.CONVERSATION_CREATED)) == 2


def test_inbound_after_close_opens_a_new_conversation(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    first = post_inbound(api, tenant_a, **{"from": "+15550105004", "text": "one"}).json()
    api.post(f"conversations/{first['conversation_id']}/close", tenant=tenant_a)

    second = post_inbound(api, tenant_a, **{"from": "+15550105004", "text": "two"}).json()

    assert second["conversation_id"] != first["conversation_id"]
    assert len(events_of(tenant_a, EventType.CONVERSATION_CREATED)) == 2


def test_repeated_inbound_stays_in_one_conversation(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    ids = {
        post_inbound(api, tenant_a, **{"from": "+15550105005", "text": f"#{i}"}).json()[
            "conversation_id"
        ]
        for i in range(3)
    }
    assert len(ids) == 1
    assert len(events_of(tenant_a, EventType.CONVERSATION_CREATED)) == 1
    assert len(events_of(tenant_a, EventType.MESSAGE_RECEIVED)) == 3


@pytest.mark.parametrize(
    "sender",
    [
        "15550105006",
        "+1555",
        "+1 555 010 5006 123456",
        "alice",
        "",
        "+0 555 0105006",
        "+1555abc0106",
        15550105006,
        ["+15550105006"],
    ],
)
def test_inbound_refuses_a_bad_sender(api: ApiClient, tenant_a: TenantFixture, sender: Any) -> None:
    response = post_inbound(api, tenant_a, **{"from": sender, "text": "hi"})

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == "invalid_recipient"
    assert error["field"] == "from"
    assert events_of(tenant_a) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": "+15550105007"}, "text"),
        ({"from": "+15550105007", "text": ""}, "text"),
        ({"from": "+15550105007", "text": None}, "text"),
        ({"from": "+15550105007", "text": "x" * 4097}, "text"),
        ({"text": "hi"}, "from"),
        ({"from": None, "text": "hi"}, "from"),
        ({"from": "+15550105007", "text": "hi", "to": "+15550105008"}, "to"),
        (
            {"from": "+15550105007", "text": "hi", "media_url": "https://example.com/a.png"},
            "media_url",
        ),
        ({"sender": "+15550105007", "text": "hi"}, None),
    ],
)
def test_inbound_validation(
    api: ApiClient, tenant_a: TenantFixture, body: dict[str, Any], field: str | None
) -> None:
    response = post_inbound(api, tenant_a, **body)

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == "validation_error"
    if field is not None:
        assert error["field"] == field
    with tenant_a.schema():
        assert not Message.objects.exists()


@pytest.mark.parametrize("raw", ["[]", '"hi"', "{bad json"])
def test_inbound_refuses_non_object_bodies(
    api: ApiClient, tenant_a: TenantFixture, raw: str
) -> None:
    response = api.post(
        f"integrations/{tenant_a.integrations['whatsapp']}/sandbox/inbound",
        tenant=tenant_a,
        raw=raw,
    )
    assert response.status_code == 400, response.content
    error_of(response)


def test_inbound_text_of_4096_characters_is_accepted(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    response = post_inbound(api, tenant_a, **{"from": "+15550105009", "text": "y" * 4096})
    assert response.status_code == 201, response.content
    assert len(response.json()["text"]) == 4096


@pytest.mark.parametrize("integration_id", ["intg_unknown", new_id("intg")])
def test_inbound_unknown_integration_is_not_found(
    api: ApiClient, tenant_a: TenantFixture, integration_id: str
) -> None:
    response = api.post(
        f"integrations/{integration_id}/sandbox/inbound",
        tenant=tenant_a,
        json_body={"from": "+15550105010", "text": "hi"},
    )
    assert response.status_code == 404, response.content
    assert error_of(response)["code"] == "not_found"


def test_inbound_on_non_sandbox_integration_is_not_found(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    # given an integration of another provider (stored directly: only the sandbox is installed)
    with tenant_a.schema():
        twilio = Integration.objects.create(
            channel="sms", provider="twilio", config={}, is_default=False
        )

    response = api.post(
        f"integrations/{twilio.pk}/sandbox/inbound",
        tenant=tenant_a,
        json_body={"from": "+15550105011", "text": "hi"},
    )

    assert response.status_code == 404, response.content
    assert error_of(response)["code"] == "not_found"
    with tenant_a.schema():
        assert not Message.objects.exists()


# ------------------------------------------------------------------ close_idle_conversations


def test_close_idle_conversations(api: ApiClient, tenant_a: TenantFixture) -> None:
    # given conversations last active at various times, one already closed
    now = datetime.now(UTC).replace(microsecond=0)
    activity = {
        "fresh": now - timedelta(minutes=10),
        "exactly_limit": now - timedelta(hours=1),
        "idle": now - timedelta(hours=2),
        "very_idle": now - timedelta(days=3),
        "idle_pending_human": now - timedelta(hours=5),
        "idle_but_closed": now - timedelta(days=2),
    }
    names: dict[str, str] = {}
    for i, (name, at) in enumerate(activity.items()):
        names[name] = send_ok(api, tenant_a, recipient=f"+1555010520{i}")["id"]
        with tenant_a.schema():
            Conversation.objects.filter(pk=names[name]).update(last_activity_at=at)
    assert (
        api.post(f"conversations/{names['idle_but_closed']}/close", tenant=tenant_a).status_code
        == 200
    )
    with tenant_a.schema():
        Conversation.objects.filter(pk=names["idle_pending_human"]).update(
            status=ConversationStatus.PENDING_HUMAN
        )
    closed_before = len(events_of(tenant_a, EventType.CONVERSATION_CLOSED))

    # when
    with tenant_a.schema():
        count = services.close_idle_conversations(idle_seconds=3600, now=now)

    # then
    expected = {"idle", "very_idle", "idle_pending_human"}
    assert count == len(expected)
    with tenant_a.schema():
        rows = {c.pk: c for c in Conversation.objects.all()}
    for name, conversation_id in names.items():
        should_close = name in expected or name == "idle_but_closed"
        assert (rows[conversation_id].status == ConversationStatus.CLOSED) is should_close, name
        if name in expected:
            assert rows[conversation_id].closed_at == now
    new_events = events_of(tenant_a, EventType.CONVERSATION_CLOSED)[closed_before:]
    assert sorted(e.data["id"] for e in new_events) == sorted(names[n] for n in expected)
    assert all(e.data["status"] == "closed" for e in new_events)

    # and a second run finds nothing more
    with tenant_a.schema():
        assert services.close_idle_conversations(idle_seconds=3600, now=now) == 0
    assert len(events_of(tenant_a, EventType.CONVERSATION_CLOSED)) == closed_before + len(expected)


@pytest.mark.parametrize(
    ("idle_seconds", "closes"), [(60, True), (599, True), (601, False), (86400, False)]
)
def test_close_idle_threshold(
    api: ApiClient, tenant_a: TenantFixture, idle_seconds: int, closes: bool
) -> None:
    conversation_id = send_ok(api, tenant_a, recipient="+15550105301")["id"]
    now = timezone.now()
    with tenant_a.schema():
        Conversation.objects.filter(pk=conversation_id).update(
            last_activity_at=now - timedelta(seconds=600)
        )
        assert services.close_idle_conversations(idle_seconds=idle_seconds, now=now) == int(closes)
        status = Conversation.objects.get(pk=conversation_id).status
    assert (status == ConversationStatus.CLOSED) is closes
    assert len(events_of(tenant_a, EventType.CONVERSATION_CLOSED)) == int(closes)


def test_idle_close_then_inbound_opens_new_conversation(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    old = post_inbound(api, tenant_a, **{"from": "+15550105302", "text": "one"}).json()[
        "conversation_id"
    ]
    with tenant_a.schema():
        services.close_idle_conversations(idle_seconds=0, now=timezone.now() + timedelta(seconds=1))

    new = post_inbound(api, tenant_a, **{"from": "+15550105302", "text": "two"}).json()[
        "conversation_id"
    ]

    assert new != old
