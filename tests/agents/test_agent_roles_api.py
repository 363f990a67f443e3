"""Agent roles by API: create, read, list, change, delete; strict validation; one default."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from agents.models import AgentRole
from conversations.models import Conversation
from tests.builders import list_ok, post_inbound, send_ok
from tests.conftest import ApiClient, TenantFixture, error_of

ROLE = {
    "name": "Ana",
    "instructions": "Answer questions about orders.",
    "language": "es",
    "greeting": "¡Hola! Soy Ana.",
    "handoff_keywords": ["humano", "hablar con una persona"],
    "knowledge": [{"question": "¿Cuánto cuesta el envío?", "answer": "5 €."}],
}


def create_role(api: ApiClient, tenant: TenantFixture, **body: Any) -> dict[str, Any]:
    response = api.post("agent-roles", tenant=tenant, json_body={**ROLE, **body})
    assert response.status_code == 201, response.content
    created: dict[str, Any] = response.json()
    return created


def test_create_answers_the_role_with_a_uuid(api: ApiClient, tenant_a: TenantFixture) -> None:
    created = create_role(api, tenant_a)

    assert uuid.UUID(created["id"]).version == 7
    assert {k: created[k] for k in ROLE} == ROLE
    assert created["is_default"] is False
    assert created["created_at"] and created["updated_at"]
    fetched = api.get(f"agent-roles/{created['id']}", tenant=tenant_a)
    assert fetched.status_code == 200 and fetched.json() == created


def test_the_minimum_body_takes_the_tenants_language(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    tenant_a.tenant.default_language = "pt_BR"
    tenant_a.tenant.save(update_fields=["default_language"])

    created = api.post(
        "agent-roles", tenant=tenant_a, json_body={"name": "Bia", "instructions": "Ajude."}
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["language"] == "pt_BR"
    assert (body["greeting"], body["handoff_keywords"], body["knowledge"]) == ("", [], [])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": None}, "name"),
        ({"instructions": ""}, "instructions"),
        ({"instructions": 42}, "instructions"),
        ({"name": "x" * 201}, "name"),
        ({"language": "xx"}, "language"),
        ({"greeting": "x" * 4097}, "greeting"),
        ({"handoff_keywords": "human"}, "handoff_keywords"),
        ({"handoff_keywords": [""]}, "handoff_keywords"),
        ({"handoff_keywords": [" "]}, "handoff_keywords"),
        ({"handoff_keywords": ["!!!"]}, "handoff_keywords"),
        ({"handoff_keywords": [7]}, "handoff_keywords"),
        ({"handoff_keywords": ["k"] * 51}, "handoff_keywords"),
        ({"knowledge": [{"question": "q"}]}, "knowledge"),
        ({"knowledge": [{"question": " ", "answer": "a"}]}, "knowledge"),
        ({"knowledge": [{"question": "q", "answer": ""}]}, "knowledge"),
        ({"knowledge": [{"question": "q", "answer": "a", "extra": 1}]}, "knowledge"),
        ({"knowledge": ["q"]}, "knowledge"),
        ({"knowledge": [{"question": "q", "answer": "a"}] * 201}, "knowledge"),
        ({"is_default": "maybe"}, "is_default"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_invalid_bodies_are_refused_and_create_nothing(
    api: ApiClient, tenant_a: TenantFixture, body: dict[str, Any], field: str
) -> None:
    response = api.post("agent-roles", tenant=tenant_a, json_body={**ROLE, **body})

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert any(d["field"].split(".")[0].split("[")[0] == field for d in error["details"]), error
    with tenant_a.schema():
        assert not AgentRole.objects.exists()


def test_keywords_are_kept_once_whatever_their_case_or_accents(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    created = create_role(
        api, tenant_a, handoff_keywords=["Humano", "humano", "HUMANO ", "atención"]
    )
    assert created["handoff_keywords"] == ["Humano", "atención"]


def test_one_default_at_a_time(api: ApiClient, tenant_a: TenantFixture) -> None:
    first = create_role(api, tenant_a, name="First", is_default=True)
    second = create_role(api, tenant_a, name="Second", is_default=True)

    assert second["is_default"] is True
    assert api.get(f"agent-roles/{first['id']}", tenant=tenant_a).json()["is_default"] is False

    # making the first the default again takes it from the second
    changed = api.patch(
        f"agent-roles/{first['id']}", tenant=tenant_a, json_body={"is_default": True}
    )
    assert changed.status_code == 200 and changed.json()["is_default"] is True
    with tenant_a.schema():
        assert list(AgentRole.objects.filter(is_default=True).values_list("name", flat=True)) == [
            "First"
        ]
    defaults = list_ok(api, tenant_a, "agent-roles", is_default="true")
    assert [r["id"] for r in defaults["data"]] == [first["id"]]

    # and unsetting it leaves the tenant without one
    api.patch(f"agent-roles/{first['id']}", tenant=tenant_a, json_body={"is_default": False})
    assert list_ok(api, tenant_a, "agent-roles", is_default="true")["data"] == []


def test_new_conversations_take_the_default_role(api: ApiClient, tenant_a: TenantFixture) -> None:
    role = create_role(api, tenant_a, is_default=True)
    assert send_ok(api, tenant_a, recipient="+15550107001")["agent_role_id"] == role["id"]


def test_update_changes_only_the_given_fields(api: ApiClient, tenant_a: TenantFixture) -> None:
    created = create_role(api, tenant_a)

    response = api.patch(
        f"agent-roles/{created['id']}",
        tenant=tenant_a,
        json_body={"greeting": "", "knowledge": [], "handoff_keywords": ["agente"]},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["greeting"], body["knowledge"], body["handoff_keywords"]) == ("", [], ["agente"])
    assert (body["name"], body["instructions"], body["language"]) == (
        ROLE["name"],
        ROLE["instructions"],
        "es",
    )
    refused = api.patch(f"agent-roles/{created['id']}", tenant=tenant_a, json_body={"name": ""})
    assert refused.status_code == 400
    assert api.get(f"agent-roles/{created['id']}", tenant=tenant_a).json()["name"] == "Ana"


def test_list_is_newest_first_with_a_cursor(api: ApiClient, tenant_a: TenantFixture) -> None:
    ids = [create_role(api, tenant_a, name=f"Role {i}")["id"] for i in range(3)]

    first = list_ok(api, tenant_a, "agent-roles", limit=2)
    rest = list_ok(api, tenant_a, "agent-roles", limit=2, cursor=first["next_cursor"])

    assert [r["id"] for r in first["data"]] == ids[::-1][:2] and first["has_more"]
    assert [r["id"] for r in rest["data"]] == ids[:1] and rest["next_cursor"] is None
    bad = api.get("agent-roles", tenant=tenant_a, query={"cursor": "sess_x"})
    assert bad.status_code == 400 and error_of(bad)["code"] == "validation_error"


def test_roles_of_another_tenant_are_invisible(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    role = create_role(api, tenant_a)
    path = f"agent-roles/{role['id']}"

    assert list_ok(api, tenant_b, "agent-roles")["data"] == []
    for response in (
        api.get(path, tenant=tenant_b),
        api.patch(path, tenant=tenant_b, json_body={"name": "Mine"}),
        api.delete(path, tenant=tenant_b),
    ):
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert api.send(tenant_b, agent_role_id=role["id"]).status_code == 400
    assert api.get(path, tenant=tenant_a).json()["name"] == "Ana"


def test_unknown_or_malformed_ids_are_404(api: ApiClient, tenant_a: TenantFixture) -> None:
    for path in (f"agent-roles/{uuid.uuid4()}", "agent-roles/not-a-uuid"):
        response = api.get(path, tenant=tenant_a)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"


def test_deleting_a_role_keeps_its_conversations_without_it(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    role = create_role(api, tenant_a)
    sent = send_ok(api, tenant_a, recipient="+15550107002", agent_role_id=role["id"])
    assert sent["agent_role_id"] == role["id"]

    deleted = api.delete(f"agent-roles/{role['id']}", tenant=tenant_a)

    assert deleted.status_code == 204 and not deleted.content
    with tenant_a.schema():
        assert Conversation.objects.get(pk=sent["id"]).agent_role_id is None
    assert api.get(f"conversations/{sent['id']}", tenant=tenant_a).json()["agent_role_id"] is None
    again = api.send(tenant_a, recipient="+15550107002", agent_role_id=role["id"])
    assert again.status_code == 400 and error_of(again)["code"] == "agent_role_not_found"
    # inbound messages on it still record fine
    assert (
        post_inbound(api, tenant_a, **{"from": "+15550107002", "text": "hola"}).status_code == 201
    )
