"""Webhook events carry a message or conversation exactly as the API answers it.

Each event's ``data`` is compared, field for field, with the API's answer read right after
the change that raised it: ``GET /messages/{id}`` without ``status_history``, and
``GET /conversations/{id}`` without ``messages``.
"""

from __future__ import annotations

from typing import Any

import pytest

from agents.models import AgentRole
from conversations import services
from integrations.providers.base import StatusReport
from tests.builders import events_of, post_inbound, send_ok
from tests.conftest import ApiClient, TenantFixture
from webhooks.models import Event


def api_message(api: ApiClient, tenant: TenantFixture, message_id: str) -> dict[str, Any]:
    response = api.get(f"messages/{message_id}", tenant=tenant)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    assert body.pop("status_history")
    return body


def api_conversation(api: ApiClient, tenant: TenantFixture, conversation_id: str) -> dict[str, Any]:
    response = api.get(f"conversations/{conversation_id}", tenant=tenant)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    assert "messages" in body
    del body["messages"]
    return body


def only_event(tenant: TenantFixture, event_type: str, subject_id: str) -> Event:
    """The one event of ``event_type`` about the message or conversation ``subject_id``."""
    [event] = [e for e in events_of(tenant, event_type) if e.data.get("id") == subject_id]
    return event


def test_conversation_created_carries_the_conversation_as_the_api_answers_it(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    with tenant_a.schema():  # so that agent_role_id is set, not null
        AgentRole.objects.create(name="Support", instructions="Be kind.", is_default=True)

    sent = send_ok(api, tenant_a, recipient="+15550107301")

    created = only_event(tenant_a, "conversation.created", sent["id"])
    assert created.data["agent_role_id"] is not None
    assert created.data == api_conversation(api, tenant_a, sent["id"])
    assert created.data == {key: value for key, value in sent.items() if key != "message"}


def test_conversation_closed_carries_the_closed_conversation_as_the_api_answers_it(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    conversation_id = send_ok(api, tenant_a, recipient="+15550107302")["id"]

    closed = api.post(f"conversations/{conversation_id}/close", tenant=tenant_a)

    assert closed.status_code == 200, closed.content
    event = only_event(tenant_a, "conversation.closed", conversation_id)
    assert event.data["closed_at"] is not None
    assert event.data == api_conversation(api, tenant_a, conversation_id) == closed.json()


def test_status_events_carry_the_message_as_the_api_answers_it_after_each_change(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    message_id = send_ok(api, tenant_a, recipient="+15550107303")["message"]["id"]
    steps = [
        ("conversation.message.sent", lambda: services.deliver_message(message_id)),
        (
            "conversation.message.delivered",
            lambda: services.apply_status_report(
                StatusReport(status="delivered", message_id=message_id)
            ),
        ),
        (
            "conversation.message.read",
            lambda: services.apply_status_report(
                StatusReport(status="read", message_id=message_id)
            ),
        ),
    ]

    for event_type, change in steps:
        with tenant_a.schema():
            change()
        event = only_event(tenant_a, event_type, message_id)
        assert event.data["status"] == event_type.rsplit(".", 1)[1]
        assert event.data == api_message(api, tenant_a, message_id), event_type


def _undelivered(message_id: str) -> None:
    services.deliver_message(message_id)
    report = StatusReport(
        status="undelivered",
        message_id=message_id,
        error_code="30003",
        error_message="Unreachable handset",
    )
    services.apply_status_report(report)


@pytest.mark.parametrize(
    ("recipient", "fail"),
    [
        pytest.param("+15550100001", services.deliver_message, id="refused by the provider"),
        pytest.param("+15550107304", _undelivered, id="undelivered by the carrier"),
    ],
)
def test_the_failed_event_carries_the_error_as_the_api_answers_it(
    api: ApiClient, tenant_a: TenantFixture, recipient: str, fail: Any
) -> None:
    message_id = send_ok(api, tenant_a, recipient=recipient)["message"]["id"]

    with tenant_a.schema():
        fail(message_id)

    event = only_event(tenant_a, "conversation.message.failed", message_id)
    assert event.data["error_code"] is not None
    assert event.data == api_message(api, tenant_a, message_id)


@pytest.mark.parametrize("existing", [False, True], ids=["new conversation", "open conversation"])
def test_an_inbound_message_is_received_as_the_api_answers_it(
    api: ApiClient, tenant_a: TenantFixture, existing: bool
) -> None:
    sender = "+15550107305"
    if existing:
        send_ok(api, tenant_a, recipient=sender)

    response = post_inbound(api, tenant_a, **{"from": sender, "text": "Where is my order?"})

    assert response.status_code == 201, response.content
    answer = response.json()
    received = only_event(tenant_a, "conversation.message.received", answer["id"])
    assert received.data == api_message(api, tenant_a, answer["id"])
    assert received.data == {key: value for key, value in answer.items() if key != "status_history"}
    created = only_event(tenant_a, "conversation.created", answer["conversation_id"])
    assert created.data["id"] == received.data["conversation_id"]
    if not existing:
        assert created.data == api_conversation(api, tenant_a, answer["conversation_id"])
