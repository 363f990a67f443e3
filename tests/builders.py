"""What tests build and read again and again: sends, inbound messages, integrations, lists.

The HTTP builders go through the API as a client would and assert the answer they need
(a send that is not a 201 fails the test where it happened); the others call the services
in the tenant's schema, for tests that need a message or an integration but no request.
"""

from __future__ import annotations

from typing import Any

from conversations.models import Message
from conversations.services import MessageContent, send_message
from integrations.models import Integration
from integrations.services import connect_integration
from tests.conftest import ApiClient, TenantFixture
from webhooks.models import Event

EXAMPLE_RECIPIENT = "+15550102999"
EXAMPLE_TEXT = "Hello from Engium! How can we help you today?"

# ------------------------------------------------------------------ through the API


def send_ok(api: ApiClient, tenant: TenantFixture, **body: Any) -> dict[str, Any]:
    """POST /conversations/send: the first-message example with ``body``'s fields; its 201 JSON."""
    response = api.send(tenant, **body)
    assert response.status_code == 201, response.content
    answer: dict[str, Any] = response.json()
    return answer


def sent_message_id(api: ApiClient, tenant: TenantFixture, **body: Any) -> str:
    """The ID of the message a successful send queued."""
    return str(send_ok(api, tenant, **body)["message"]["id"])


def post_inbound(
    api: ApiClient, tenant: TenantFixture, channel: str = "whatsapp", **body: Any
) -> Any:
    """POST the sandbox inbound simulator of ``tenant``'s ``channel`` integration (the response)."""
    return api.post(
        f"integrations/{tenant.integrations[channel]}/sandbox/inbound",
        tenant=tenant,
        json_body=body,
    )


def list_ok(api: ApiClient, tenant: TenantFixture, path: str, **query: Any) -> dict[str, Any]:
    """GET a list endpoint; asserts a 200 with the shape every list has."""
    response = api.get(path, tenant=tenant, query=query)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    assert set(body) == {"data", "has_more", "next_cursor"}, body
    return body


def row_ids(body: dict[str, Any]) -> list[str]:
    """The IDs of a list page's rows, in order."""
    return [row["id"] for row in body["data"]]


# ------------------------------------------------------------------ through the services


def create_message(
    tenant: TenantFixture,
    *,
    recipient: str = EXAMPLE_RECIPIENT,
    channel: str = "whatsapp",
    text: str = EXAMPLE_TEXT,
    agent_role_id: str | None = None,
) -> Message:
    """A queued outbound message, sent with `conversations.services.send_message`."""
    with tenant.schema():
        return send_message(
            recipient=recipient,
            channel=channel,
            content=MessageContent(text=text),
            agent_role_id=agent_role_id,
        )


def create_integration(
    tenant: TenantFixture,
    channel: str = "whatsapp",
    provider: str = "sandbox",
    *,
    name: str = "",
    is_default: bool | None = None,
    **config: Any,
) -> Integration:
    """Connect ``channel`` to ``provider`` with ``config`` in ``tenant`` (the services' rules)."""
    with tenant.schema():
        return connect_integration(
            channel=channel, provider=provider, config=config, name=name, is_default=is_default
        )


def events_of(tenant: TenantFixture, event_type: str | None = None) -> list[Event]:
    """``tenant``'s events (of ``event_type``, if given), oldest first."""
    with tenant.schema():
        rows = Event.objects.order_by("id")
        return list(rows.filter(type=event_type) if event_type else rows)
