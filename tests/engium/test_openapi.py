"""The OpenAPI schema documents every answer, and the API answers exactly what it documents.

The answers are rendered by hand (`render_*`), and documented by separate serializers
(`*/schema.py`); these tests keep the two from drifting apart. Every object a real answer
holds must have exactly the documented properties: none undocumented, none required missing,
and every optional one seen in some answer of the test.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client, override_settings
from drf_spectacular.generators import SchemaGenerator

from conversations import services
from tests.conftest import ApiClient, TenantFixture, error_of
from tests.http_server import Reply, ScriptedServer
from tests.media.conftest import upload
from webhooks import services as webhook_services
from webhooks.models import Delivery

OPERATION_IDS = {
    "conversations_send",
    "conversations_list",
    "conversations_retrieve",
    "conversations_close",
    "conversations_resume_agent",
    "messages_list",
    "messages_retrieve",
    "integrations_list",
    "integrations_create",
    "integrations_retrieve",
    "integrations_update",
    "integrations_destroy",
    "integrations_sandbox_inbound",
    "integrations_test",
    "api_keys_list",
    "api_keys_create",
    "api_keys_retrieve",
    "api_keys_revoke",
    "webhooks_list",
    "webhooks_create",
    "webhooks_retrieve",
    "webhooks_update",
    "webhooks_destroy",
    "webhooks_secret",
    "webhooks_rotate_secret",
    "webhooks_test",
    "webhooks_replay",
    "webhooks_deliveries_list",
    "webhooks_deliveries_retrieve",
    "webhooks_deliveries_replay",
    "templates_list",
    "templates_create",
    "templates_retrieve",
    "templates_update",
    "templates_destroy",
    "agent_roles_list",
    "agent_roles_create",
    "agent_roles_retrieve",
    "agent_roles_update",
    "agent_roles_destroy",
    "media_list",
    "media_create",
    "media_retrieve",
    "media_destroy",
}
FAILING_RECIPIENT = "+15550100001"  # the sandbox refuses numbers ending in 0001


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: operation
        for item in schema["paths"].values()
        for operation in item.values()
    }


class Conformance:
    """Checks answers against the schema, and records which properties they held."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.components: dict[str, Any] = schema["components"]["schemas"]
        self.operations = operations(schema)
        self.seen: dict[str, set[str]] = defaultdict(set)

    def answer(self, response: Any, operation_id: str, status: int) -> Any:
        """Check one real answer against what ``operation_id`` documents for its status."""
        assert response.status_code == status, response.content
        documented = self.operations[operation_id]["responses"]
        assert str(status) in documented, f"{operation_id} answered an undocumented {status}"
        body = response.json()
        node = documented[str(status)]["content"]["application/json"]["schema"]
        self.check(body, node, f"{operation_id} {status}")
        return body

    def check(self, value: Any, node: dict[str, Any], where: str, name: str = "") -> None:
        if "$ref" in node:
            component = node["$ref"].rsplit("/", 1)[-1]
            self.check(value, self.components[component], where, component)
            return
        if value is None:
            assert node.get("nullable"), f"{where} is null; the schema does not allow it"
            return
        if "allOf" in node:  # how a nullable reference is written
            for part in node["allOf"]:
                self.check(value, part, where)
            return
        if "enum" in node:
            assert value in node["enum"], f"{where}: {value!r} not in {node['enum']}"
        kind = node.get("type")
        if kind == "object":
            assert isinstance(value, dict), f"{where}: not an object"
            if "properties" in node:
                self._check_properties(value, node, where, name)
            elif isinstance(node.get("additionalProperties"), dict):
                for key, item in value.items():
                    self.check(item, node["additionalProperties"], f"{where}.{key}")
        elif kind == "array":
            assert isinstance(value, list), f"{where}: not an array"
            for index, item in enumerate(value):
                self.check(item, node["items"], f"{where}[{index}]")
        elif kind == "string":
            self._check_string(value, node, where)
        elif kind == "integer":
            assert isinstance(value, int) and not isinstance(value, bool), f"{where}: not an int"
        elif kind == "boolean":
            assert isinstance(value, bool), f"{where}: not a boolean"
        elif node:  # `{}` is any JSON value (free-form settings)
            raise AssertionError(f"{where}: no type documented ({node})")

    def _check_properties(
        self, value: dict[str, Any], node: dict[str, Any], where: str, name: str
    ) -> None:
        documented, required = set(node["properties"]), set(node.get("required", ()))
        undocumented, missing = set(value) - documented, required - set(value)
        assert not undocumented, f"{where}: undocumented keys {sorted(undocumented)}"
        assert not missing, f"{where}: documented keys missing {sorted(missing)}"
        if name:
            self.seen[name] |= set(value)
        for key, item in value.items():
            self.check(item, node["properties"][key], f"{where}.{key}")

    def _check_string(self, value: Any, node: dict[str, Any], where: str) -> None:
        assert isinstance(value, str), f"{where}: not a string"
        if node.get("format") == "date-time":
            assert datetime.fromisoformat(value).tzinfo is not None, f"{where}: {value!r}"
        elif node.get("format") == "uuid":
            uuid.UUID(value)
        elif node.get("format") == "uri":
            assert urlsplit(value).scheme in {"http", "https"}, f"{where}: {value!r}"
        if "pattern" in node:
            assert re.search(node["pattern"], value), f"{where}: {value!r} !~ {node['pattern']}"

    def assert_every_property_seen(self) -> None:
        """The union of the answers' keys is, per object, the documented properties."""
        assert self.seen
        for component, keys in self.seen.items():
            documented = set(self.components[component]["properties"])
            assert keys == documented, f"{component}: never answered {sorted(documented - keys)}"


# ------------------------------------------------------------------ the schema itself


def test_every_operation_documents_its_answers(schema: dict[str, Any]) -> None:
    found = operations(schema)
    assert set(found) == OPERATION_IDS
    for operation_id, operation in found.items():
        responses = operation["responses"]
        success = [status for status in responses if status.startswith("2")]
        assert len(success) == 1, operation_id
        if success[0] != "204":
            content = responses[success[0]].get("content", {})
            assert "schema" in content.get("application/json", {}), operation_id
        for status, response in responses.items():
            if status.startswith("4"):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (operation_id, status)
        assert {"401", "403"} <= set(responses), operation_id
        assert operation["security"] == [{"ApiKey": [], "TenantId": []}], operation_id
        assert operation.get("summary") and operation.get("description"), operation_id
        for parameter in operation.get("parameters", []):
            assert parameter["schema"].get("type"), (operation_id, parameter["name"])


def test_both_credentials_are_documented(schema: dict[str, Any]) -> None:
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKey"]["type"] == "http" and schemes["ApiKey"]["scheme"] == "bearer"
    assert schemes["TenantId"] == {**schemes["TenantId"], "type": "apiKey", "in": "header"}
    assert schemes["TenantId"]["name"] == "X-Tenant-ID"


def test_the_send_example_is_the_first_message_guide(schema: dict[str, Any]) -> None:
    body = operations(schema)["conversations_send"]["requestBody"]["content"]["application/json"]
    assert body["examples"]["FirstMessage"]["value"] == {
        "recipient": "+15550102999",
        "channel": "whatsapp",
        "message": {"text": "Hello from Engium! How can we help you today?"},
    }
    recipient = schema["components"]["schemas"]["SendMessage"]["properties"]["recipient"]
    assert recipient["type"] == "string"


def test_the_upload_is_documented_as_multipart(schema: dict[str, Any]) -> None:
    body = operations(schema)["media_create"]["requestBody"]
    assert body["required"] is True
    assert set(body["content"]) == {"multipart/form-data"}
    form = schema["components"]["schemas"]["MediaUpload"]
    assert form["properties"]["file"] == {**form["properties"]["file"], "format": "binary"}
    assert form["required"] == ["file"]
    assert set(form["properties"]) == {"file", "channel", "media_type"}


def test_the_served_schema_is_public_json(schema: dict[str, Any]) -> None:
    response = Client().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200, response.content
    served = response.json()
    assert served["openapi"].startswith("3.")
    assert set(operations(served)) == OPERATION_IDS


# ------------------------------------------------------------------ real answers


def test_answers_have_exactly_the_documented_keys(
    api: ApiClient, tenant_a: TenantFixture, schema: dict[str, Any]
) -> None:
    check = Conformance(schema)

    sent = check.answer(api.send(tenant_a), "conversations_send", 201)
    failed = check.answer(
        api.send(tenant_a, recipient=FAILING_RECIPIENT), "conversations_send", 201
    )
    with tenant_a.schema():
        services.deliver_message(sent["message"]["id"])
        services.deliver_message(failed["message"]["id"])

    message = check.answer(
        api.get(f"messages/{failed['message']['id']}", tenant=tenant_a), "messages_retrieve", 200
    )
    assert message["status"] == "failed" and message["status_history"][-1]["error_code"]
    check.answer(
        api.get(f"messages/{sent['message']['id']}", tenant=tenant_a), "messages_retrieve", 200
    )
    check.answer(api.get("messages", tenant=tenant_a), "messages_list", 200)

    page = check.answer(
        api.get("conversations", tenant=tenant_a, query={"limit": 1}), "conversations_list", 200
    )
    assert page["has_more"] and page["next_cursor"]
    last = check.answer(
        api.get("conversations", tenant=tenant_a, query={"cursor": page["next_cursor"]}),
        "conversations_list",
        200,
    )
    assert last["next_cursor"] is None
    detail = check.answer(
        api.get(f"conversations/{sent['id']}", tenant=tenant_a), "conversations_retrieve", 200
    )
    assert detail["messages"]
    closed = check.answer(
        api.post(f"conversations/{sent['id']}/close", tenant=tenant_a), "conversations_close", 200
    )
    assert closed["closed_at"]

    created = check.answer(
        api.post(
            "integrations",
            tenant=tenant_a,
            json_body={
                "channel": "sms",
                "provider": "sandbox",
                "config": {"timetable": {"sent": 0}},
            },
        ),
        "integrations_create",
        201,
    )
    assert created["callback_urls"] and created["config"]
    check.answer(api.get("integrations", tenant=tenant_a), "integrations_list", 200)
    path = f"integrations/{created['id']}"
    check.answer(api.get(path, tenant=tenant_a), "integrations_retrieve", 200)
    check.answer(
        api.patch(path, tenant=tenant_a, json_body={"name": "Renamed"}), "integrations_update", 200
    )
    inbound = check.answer(
        api.post(
            f"{path}/sandbox/inbound",
            tenant=tenant_a,
            json_body={"from": "+15550102999", "text": "Hi"},
        ),
        "integrations_sandbox_inbound",
        201,
    )
    tested = check.answer(api.post(f"{path}/test", tenant=tenant_a), "integrations_test", 200)
    assert tested["verification"] == "verified" and tested["verified_at"]
    assert inbound["direction"] == "inbound"
    deleted = api.delete(path, tenant=tenant_a)
    assert deleted.status_code == 204 and not deleted.content
    assert "204" in check.operations["integrations_destroy"]["responses"]

    new_key = check.answer(
        api.post("api-keys", tenant=tenant_a, json_body={"name": "CI"}), "api_keys_create", 201
    )
    assert new_key["key"]
    used = TenantFixture(tenant=tenant_a.tenant, api_key=new_key["key"])
    keys_page = check.answer(
        api.get("api-keys", tenant=used, query={"limit": 1}), "api_keys_list", 200
    )
    assert keys_page["has_more"] and keys_page["next_cursor"]
    key_path = f"api-keys/{new_key['id']}"
    assert check.answer(api.get(key_path, tenant=tenant_a), "api_keys_retrieve", 200)[
        "last_used_at"
    ]
    revoked = check.answer(api.post(f"{key_path}/revoke", tenant=tenant_a), "api_keys_revoke", 200)
    assert revoked["revoked_at"]

    check_webhook_answers(api, tenant_a, check)
    check_template_answers(api, tenant_a, check)
    check_agent_answers(api, tenant_a, check)
    check_media_answers(tenant_a, check)
    check.assert_every_property_seen()


def check_template_answers(api: ApiClient, tenant_a: TenantFixture, check: Conformance) -> None:
    created = check.answer(
        api.post(
            "templates",
            tenant=tenant_a,
            json_body={
                "name": "welcome",
                "category": "utility",
                "bodies": {"en": "Hi {{name}}", "es": "Hola {{name}}"},
                "examples": {"name": "Ana"},
            },
        ),
        "templates_create",
        201,
    )
    path = f"templates/{created['id']}"
    check.answer(api.get("templates", tenant=tenant_a), "templates_list", 200)
    check.answer(api.get(path, tenant=tenant_a), "templates_retrieve", 200)
    check.answer(
        api.patch(path, tenant=tenant_a, json_body={"category": "marketing"}),
        "templates_update",
        200,
    )
    sent = check.answer(
        api.send(
            tenant_a,
            message={
                "template": {"id": created["id"], "language": "es", "variables": {"name": "Ana"}}
            },
        ),
        "conversations_send",
        201,
    )
    assert sent["message"]["template"] == {"id": created["id"], "language": "es"}
    check.answer(
        api.get(f"messages/{sent['message']['id']}", tenant=tenant_a), "messages_retrieve", 200
    )
    deleted = api.delete(path, tenant=tenant_a)
    assert (
        deleted.status_code == 204 and "204" in check.operations["templates_destroy"]["responses"]
    )


def check_agent_answers(api: ApiClient, tenant_a: TenantFixture, check: Conformance) -> None:
    from conversations.models import Conversation, ConversationStatus

    body = {
        "name": "Ana",
        "instructions": "Help.",
        "greeting": "Hi!",
        "handoff_keywords": ["human"],
        "knowledge": [{"question": "When do you open?", "answer": "At 9."}],
    }
    role = check.answer(
        api.post("agent-roles", tenant=tenant_a, json_body=body), "agent_roles_create", 201
    )
    check.answer(
        api.post("agent-roles", tenant=tenant_a, json_body={**body, "is_default": True}),
        "agent_roles_create",
        201,
    )
    page = check.answer(
        api.get("agent-roles", tenant=tenant_a, query={"limit": 1}), "agent_roles_list", 200
    )
    assert page["has_more"] and page["next_cursor"]
    check.answer(
        api.get("agent-roles", tenant=tenant_a, query={"cursor": page["next_cursor"]}),
        "agent_roles_list",
        200,
    )
    path = f"agent-roles/{role['id']}"
    check.answer(api.get(path, tenant=tenant_a), "agent_roles_retrieve", 200)
    check.answer(
        api.patch(path, tenant=tenant_a, json_body={"greeting": ""}), "agent_roles_update", 200
    )
    assert api.delete(path, tenant=tenant_a).status_code == 204
    assert "204" in check.operations["agent_roles_destroy"]["responses"]

    sent = check.answer(api.send(tenant_a, recipient="+15550109001"), "conversations_send", 201)
    with tenant_a.schema():
        Conversation.objects.filter(pk=sent["id"]).update(status=ConversationStatus.PENDING_HUMAN)
    resumed = check.answer(
        api.post(f"conversations/{sent['id']}/resume-agent", tenant=tenant_a),
        "conversations_resume_agent",
        200,
    )
    assert resumed["status"] == "active"


def check_media_answers(tenant_a: TenantFixture, check: Conformance) -> None:
    from tests.media.files import png

    client = ApiClient()
    media = check.answer(upload(tenant_a, png(), "a.png"), "media_create", 201)
    check.answer(client.get("media", tenant=tenant_a), "media_list", 200)
    check.answer(client.get(f"media/{media['id']}", tenant=tenant_a), "media_retrieve", 200)
    deleted = client.delete(f"media/{media['id']}", tenant=tenant_a)
    assert deleted.status_code == 204 and "204" in check.operations["media_destroy"]["responses"]


def check_webhook_answers(api: ApiClient, tenant_a: TenantFixture, check: Conformance) -> None:
    with ScriptedServer() as receiver, override_settings(ENGIUM_WEBHOOKS_ALLOW_PRIVATE=True):
        receiver.replies.append(Reply(status=500))
        endpoint = check.answer(
            api.post("webhooks", tenant=tenant_a, json_body={"url": receiver.url, "events": ["*"]}),
            "webhooks_create",
            201,
        )
        path = f"webhooks/{endpoint['id']}"
        check.answer(api.get("webhooks", tenant=tenant_a), "webhooks_list", 200)
        check.answer(api.get(path, tenant=tenant_a), "webhooks_retrieve", 200)
        check.answer(
            api.patch(path, tenant=tenant_a, json_body={"enabled": False}), "webhooks_update", 200
        )
        check.answer(
            api.patch(path, tenant=tenant_a, json_body={"enabled": True}), "webhooks_update", 200
        )
        check.answer(api.get(f"{path}/secret", tenant=tenant_a), "webhooks_secret", 200)
        rotated = check.answer(
            api.post(f"{path}/rotate-secret", tenant=tenant_a), "webhooks_rotate_secret", 200
        )
        assert rotated["previous_secret_valid_until"]
        delivery = check.answer(api.post(f"{path}/test", tenant=tenant_a), "webhooks_test", 202)
        with tenant_a.schema():
            webhook_services.send_deliveries(
                [str(pk) for pk in Delivery.objects.values_list("pk", flat=True)]
            )
        logged = check.answer(
            api.get(f"{path}/deliveries", tenant=tenant_a), "webhooks_deliveries_list", 200
        )
        assert logged["data"][0]["attempts"][0]["error"] is None
        check.answer(
            api.get(f"{path}/deliveries/{delivery['id']}", tenant=tenant_a),
            "webhooks_deliveries_retrieve",
            200,
        )
        check.answer(
            api.post(f"{path}/deliveries/{delivery['id']}/replay", tenant=tenant_a),
            "webhooks_deliveries_replay",
            202,
        )
        check.answer(
            api.post(
                f"{path}/replay",
                tenant=tenant_a,
                json_body={"since": "2020-01-01T00:00:00Z", "until": "2030-01-01T00:00:00Z"},
            ),
            "webhooks_replay",
            202,
        )
        assert api.delete(path, tenant=tenant_a).status_code == 204


def test_error_answers_have_exactly_the_documented_keys(
    api: ApiClient, tenant_a: TenantFixture, schema: dict[str, Any]
) -> None:
    check = Conformance(schema)
    limit = settings.ENGIUM_MAX_BODY_BYTES

    invalid = check.answer(
        api.post("conversations/send", tenant=tenant_a, json_body={"recipient": "+15550102999"}),
        "conversations_send",
        400,
    )
    assert invalid["error"]["code"] == "validation_error" and invalid["error"]["details"]
    many_problems = {
        "recipient": "+15550102999",
        "channel": "sms",
        "message": {"template": {"id": "t", "variables": {f"v{i}": i for i in range(50)}}},
    }
    capped = check.answer(
        api.post("conversations/send", tenant=tenant_a, json_body=many_problems),
        "conversations_send",
        400,
    )
    assert capped["error"]["details_total"] == 50
    for response, operation_id, status in [
        (api.post("conversations/send", tenant=tenant_a, raw="{"), "conversations_send", 400),
        (api.send(tenant_a, channel="sms", recipient="12"), "conversations_send", 400),
        (api.get("conversations", tenant=tenant_a, query={"limit": 0}), "conversations_list", 400),
        (api.get("messages", tenant=tenant_a, query={"cursor": "x"}), "messages_list", 400),
        (api.get("integrations", tenant=tenant_a, query={"status": "x"}), "integrations_list", 400),
        (api.get("conversations"), "conversations_list", 401),
        (
            api.get("integrations", headers={"HTTP_X_TENANT_ID": tenant_a.id}),
            "integrations_list",
            401,
        ),
        (
            api.post("conversations/send", tenant=tenant_a, raw=" " * (limit + 1)),
            "conversations_send",
            413,
        ),
        (
            api.post("integrations", tenant=tenant_a, raw="x", content_type="text/plain"),
            "integrations_create",
            415,
        ),
        (
            api.post(
                "conversations/sess_00000000000000000000000000/close",
                tenant=tenant_a,
                raw="x",
                content_type="text/plain",
            ),
            "conversations_close",
            415,
        ),
        (
            api.get("messages/msg_00000000000000000000000000", tenant=tenant_a),
            "messages_retrieve",
            404,
        ),
        (
            api.get("conversations/sess_00000000000000000000000000", tenant=tenant_a),
            "conversations_retrieve",
            404,
        ),
        (
            api.delete("integrations/intg_00000000000000000000000000", tenant=tenant_a),
            "integrations_destroy",
            404,
        ),
        (api.post("api-keys", tenant=tenant_a, json_body={}), "api_keys_create", 400),
        (api.get("api-keys", tenant=tenant_a, query={"cursor": "x"}), "api_keys_list", 400),
        (
            api.get("api-keys/key_00000000000000000000000000", tenant=tenant_a),
            "api_keys_retrieve",
            404,
        ),
        (
            api.post("api-keys/key_00000000000000000000000000/revoke", tenant=tenant_a),
            "api_keys_revoke",
            404,
        ),
        (
            api.post(
                f"integrations/{tenant_a.integrations['sms']}/sandbox/inbound",
                tenant=tenant_a,
                json_body={"from": "not a number", "text": "Hi"},
            ),
            "integrations_sandbox_inbound",
            400,
        ),
        (
            api.post("integrations/intg_00000000000000000000000000/test", tenant=tenant_a),
            "integrations_test",
            404,
        ),
        (
            api.post("agent-roles", tenant=tenant_a, json_body={"name": " "}),
            "agent_roles_create",
            400,
        ),
        (
            api.get("agent-roles/00000000-0000-7000-8000-000000000000", tenant=tenant_a),
            "agent_roles_retrieve",
            404,
        ),
        (
            api.post(
                f"conversations/{api.send(tenant_a).json()['id']}/resume-agent", tenant=tenant_a
            ),
            "conversations_resume_agent",
            409,
        ),
        (upload(tenant_a, b"MZ" + bytes(200), "a.jpg"), "media_create", 400),
        (api.post("media", tenant=tenant_a, json_body={}), "media_create", 415),
        (api.get("media", tenant=tenant_a, query={"media_type": "x"}), "media_list", 400),
        (
            api.get("media/med_00000000000000000000000000", tenant=tenant_a),
            "media_retrieve",
            404,
        ),
    ]:
        error_of(response)
        check.answer(response, operation_id, status)

    check.assert_every_property_seen()


def test_the_schema_is_as_strict_as_the_validation(schema: dict[str, Any]) -> None:
    operations = {
        operation["operationId"]: operation
        for path in schema["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    }

    # a cursor names its own list's prefix: one from another list fails the schema too
    def parameter(operation_id: str, name: str) -> dict[str, Any]:
        found = [p for p in operations[operation_id]["parameters"] if p["name"] == name]
        assert found, (operation_id, name)
        return found[0]

    for operation_id, prefix in [
        ("conversations_list", "sess"),
        ("messages_list", "msg"),
        ("integrations_list", "intg"),
    ]:
        assert parameter(operation_id, "cursor")["schema"]["pattern"].startswith(f"^{prefix}_")

    # the Idempotency-Key header's shape, and fields that refuse "" say so
    key = parameter("conversations_send", "Idempotency-Key")["schema"]
    assert key["pattern"] == r"^[\x20-\x7e]{1,255}$"
    create = schema["components"]["schemas"]["IntegrationCreate"]["properties"]
    assert create["provider"]["minLength"] == 1
