"""Tenant isolation: tenant A never sees, changes or touches tenant B's data."""

from __future__ import annotations

from typing import Any

import pytest

from conversations.models import Conversation, ConversationStatus, Message, MessageStatusChange
from integrations.models import Integration, IntegrationStatus
from tests.builders import send_ok
from tests.conftest import ApiClient, TenantFixture, error_of
from webhooks.models import Event


def _counts(tenant: TenantFixture) -> dict[str, int]:
    with tenant.schema():
        return {
            "conversations": Conversation.objects.count(),
            "messages": Message.objects.count(),
            "history": MessageStatusChange.objects.count(),
            "events": Event.objects.count(),
            "integrations": Integration.objects.count(),
        }


@pytest.fixture
def b_data(api: ApiClient, tenant_b: TenantFixture) -> dict[str, str]:
    """A conversation with a message in tenant B."""
    sent = send_ok(api, tenant_b, recipient="+15550103002", message={"text": "secret of B"})
    return {
        "conversation": sent["id"],
        "message": sent["message"]["id"],
        "integration": tenant_b.integrations["whatsapp"],
    }


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "conversations/{conversation}", None),
        ("post", "conversations/{conversation}/close", None),
        ("get", "messages/{message}", None),
        ("get", "integrations/{integration}", None),
        ("patch", "integrations/{integration}", {"status": "disabled"}),
        ("patch", "integrations/{integration}", {"name": "taken over"}),
        ("delete", "integrations/{integration}", None),
        (
            "post",
            "integrations/{integration}/sandbox/inbound",
            {"from": "+15550103003", "text": "hi"},
        ),
    ],
)
def test_b_ids_are_not_found_for_a(
    api: ApiClient,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    b_data: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    # given
    before_a, before_b = _counts(tenant_a), _counts(tenant_b)

    # when A addresses B's resource
    response = getattr(api, method)(path.format(**b_data), tenant=tenant_a, json_body=body)

    # then it does not exist for A, and nothing changed anywhere
    assert response.status_code == 404, response.content
    assert error_of(response)["code"] == "not_found"
    assert _counts(tenant_a) == before_a
    assert _counts(tenant_b) == before_b
    with tenant_b.schema():
        assert (
            Conversation.objects.get(pk=b_data["conversation"]).status == ConversationStatus.ACTIVE
        )
        integration = Integration.objects.get(pk=b_data["integration"])
        assert integration.status == IntegrationStatus.ACTIVE
        assert integration.is_default is True
        assert integration.name == "whatsapp sandbox"


def test_b_resources_still_work_for_b(
    api: ApiClient, tenant_b: TenantFixture, b_data: dict[str, str]
) -> None:
    # the 404s above are about the tenant, not the IDs
    assert api.get(f"conversations/{b_data['conversation']}", tenant=tenant_b).status_code == 200
    assert api.get(f"messages/{b_data['message']}", tenant=tenant_b).status_code == 200
    assert api.get(f"integrations/{b_data['integration']}", tenant=tenant_b).status_code == 200


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("conversations", {}),
        ("conversations", {"recipient": "+15550103002"}),
        ("conversations", {"channel": "whatsapp", "status": "active"}),
        ("messages", {}),
        ("messages", {"conversation_id": "{conversation}"}),
        ("messages", {"direction": "outbound"}),
        ("integrations", {}),
    ],
)
def test_a_lists_never_include_b_rows(
    api: ApiClient,
    tenant_a: TenantFixture,
    b_data: dict[str, str],
    path: str,
    query: dict[str, str],
) -> None:
    # given A has data of its own too
    own = send_ok(api, tenant_a, recipient="+15550103004")
    query = {key: value.format(**b_data) for key, value in query.items()}

    response = api.get(path, tenant=tenant_a, query=query)

    assert response.status_code == 200, response.content
    ids = {row["id"] for row in response.json()["data"]}
    assert not ids & set(b_data.values())
    if path == "conversations" and not query.get("recipient"):
        assert own["id"] in ids
    if path == "integrations":
        assert ids == set(tenant_a.integrations.values())


def test_a_send_does_not_touch_b_schema(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture, b_data: dict[str, str]
) -> None:
    # given
    before_a, before_b = _counts(tenant_a), _counts(tenant_b)

    # when A sends to the very recipient B talks to, and a recipient writes in to A
    sent = send_ok(api, tenant_a, recipient="+15550103002")
    inbound = api.post(
        f"integrations/{tenant_a.integrations['whatsapp']}/sandbox/inbound",
        tenant=tenant_a,
        json_body={"from": "+15550103002", "text": "hello A"},
    )
    assert inbound.status_code == 201, inbound.content

    # then only A's schema grew
    assert _counts(tenant_b) == before_b
    after_a = _counts(tenant_a)
    assert after_a["conversations"] == before_a["conversations"] + 1
    assert after_a["messages"] == before_a["messages"] + 2
    assert sent["integration_id"] == tenant_a.integrations["whatsapp"]
    with tenant_b.schema():
        assert not Conversation.objects.filter(pk=sent["id"]).exists()
        assert not Message.objects.filter(
            pk__in=[sent["message"]["id"], inbound.json()["id"]]
        ).exists()


def test_same_recipient_in_both_tenants_gives_two_conversations(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    # when both tenants send to one number
    in_a = send_ok(api, tenant_a, recipient="+15550103005")
    in_b = send_ok(api, tenant_b, recipient="+1 555 010 3005")
    again_in_a = send_ok(api, tenant_a, recipient="+15550103005")

    # then each tenant has its own conversation
    assert in_a["id"] != in_b["id"]
    assert again_in_a["id"] == in_a["id"]
    for tenant, own, other in ((tenant_a, in_a, in_b), (tenant_b, in_b, in_a)):
        listed = api.get("conversations", tenant=tenant, query={"recipient": "+15550103005"}).json()
        assert [row["id"] for row in listed["data"]] == [own["id"]]
        assert api.get(f"conversations/{other['id']}", tenant=tenant).status_code == 404
    detail_a = api.get(f"conversations/{in_a['id']}", tenant=tenant_a).json()
    assert len(detail_a["messages"]) == 2
    detail_b = api.get(f"conversations/{in_b['id']}", tenant=tenant_b).json()
    assert len(detail_b["messages"]) == 1


def test_closing_in_a_leaves_b_open(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    in_a = send_ok(api, tenant_a, recipient="+15550103006")
    in_b = send_ok(api, tenant_b, recipient="+15550103006")

    assert api.post(f"conversations/{in_a['id']}/close", tenant=tenant_a).status_code == 200

    assert api.get(f"conversations/{in_b['id']}", tenant=tenant_b).json()["status"] == "active"
    assert send_ok(api, tenant_b, recipient="+15550103006")["id"] == in_b["id"]


def test_a_key_with_b_tenant_id_is_refused(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {tenant_a.api_key}", "HTTP_X_TENANT_ID": tenant_b.id}
    response = api.get("conversations", headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"
