"""Idempotency-Key on sends: a repeated request creates nothing new and answers the same."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import AgentRole
from conversations.models import IdempotencyKey, Message
from conversations.services.idempotency import purge_idempotency_keys
from integrations.services import remove_integration
from tests.conftest import ApiClient, TenantFixture, error_of, make_tenant

pytestmark = pytest.mark.django_db

BODY = {"recipient": "+15550102999", "channel": "sms", "message": {"text": "Once only"}}


def send(api: ApiClient, tenant: TenantFixture, key: str, body: Any = BODY) -> Any:
    return api.post(
        "conversations/send",
        tenant=tenant,
        json_body=body,
        headers={"HTTP_IDEMPOTENCY_KEY": key},
    )


def messages(tenant: TenantFixture) -> int:
    with tenant.schema():
        return Message.objects.count()


def test_the_same_key_and_body_answer_the_first_answer_and_create_nothing(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    first = send(api, tenant_a, "order-1001")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    before = messages(tenant_a)

    # the same body in another key order and spacing is the same request
    again = api.post(
        "conversations/send",
        tenant=tenant_a,
        raw=json.dumps(
            {"message": {"text": "Once only"}, "channel": "sms", "recipient": "+15550102999"},
            indent=2,
        ),
        headers={"HTTP_IDEMPOTENCY_KEY": "order-1001"},
    )

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert messages(tenant_a) == before


def test_the_same_key_with_another_body_is_a_409(api: ApiClient, tenant_a: TenantFixture) -> None:
    assert send(api, tenant_a, "order-1002").status_code == 201
    before = messages(tenant_a)
    other = send(api, tenant_a, "order-1002", {**BODY, "message": {"text": "Twice?"}})
    assert other.status_code == 409
    assert error_of(other)["code"] == "idempotency_conflict"
    assert messages(tenant_a) == before


def test_keys_belong_to_their_tenant(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    assert send(api, tenant_a, "shared-key").status_code == 201
    in_b = send(api, tenant_b, "shared-key")
    assert in_b.status_code == 201 and "Idempotent-Replayed" not in in_b


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "ünïcode"])
def test_a_key_that_cannot_be_one_is_a_400(
    api: ApiClient, tenant_a: TenantFixture, key: str
) -> None:
    before = messages(tenant_a)
    answer = send(api, tenant_a, key)
    assert answer.status_code == 400
    assert error_of(answer)["field"] == "Idempotency-Key"
    assert messages(tenant_a) == before


def test_a_key_of_255_characters_is_fine(api: ApiClient, tenant_a: TenantFixture) -> None:
    assert send(api, tenant_a, "k" * 255).status_code == 201


def test_a_failed_send_keeps_nothing_so_it_can_be_corrected(api: ApiClient) -> None:
    tenant = make_tenant("Corrects itself", channels=("sms",))
    refused = send(api, tenant, "order-1003", {**BODY, "channel": "voice"})
    assert error_of(refused)["code"] == "channel_not_configured"
    with tenant.schema():
        assert not IdempotencyKey.objects.exists()
    assert send(api, tenant, "order-1003").status_code == 201


def test_a_replay_is_answered_at_the_limit_and_does_not_count(api: ApiClient) -> None:
    tenant = make_tenant("At its limit", channels=("sms",))
    tenant.tenant.rate_limit = 1
    tenant.tenant.save()
    first = send(api, tenant, "order-1004")
    assert first.status_code == 201 and first["X-RateLimit-Remaining"] == "0"

    replay = send(api, tenant, "order-1004")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert api.send(tenant, channel="sms").status_code == 429


def test_a_key_older_than_24_hours_is_forgotten(api: ApiClient, tenant_a: TenantFixture) -> None:
    first = send(api, tenant_a, "order-1005")
    with tenant_a.schema():
        IdempotencyKey.objects.filter(key="order-1005").update(
            created_at=timezone.now() - timedelta(hours=25)
        )
    again = send(api, tenant_a, "order-1005")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert again.json()["message"]["id"] != first.json()["message"]["id"]


def test_the_purge_forgets_expired_keys_only(api: ApiClient, tenant_a: TenantFixture) -> None:
    send(api, tenant_a, "old-key")
    send(api, tenant_a, "new-key")
    with tenant_a.schema():
        IdempotencyKey.objects.filter(key="old-key").update(
            created_at=timezone.now() - timedelta(hours=25)
        )
        assert purge_idempotency_keys() == 1
        assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new-key"]


def test_a_replay_of_a_send_that_joined_an_open_conversation_answers_the_same(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    # given an open conversation with an agent role, opened by an earlier send
    with tenant_a.schema():
        AgentRole.objects.create(name="Support", instructions="Be kind.", is_default=True)
    opened = api.send(tenant_a, channel="sms", recipient="+15550107401")
    assert opened.status_code == 201

    # when a send with a key joins it, and is repeated
    body = {**BODY, "recipient": "+15550107401"}
    first = send(api, tenant_a, "joins-1", body)
    again = send(api, tenant_a, "joins-1", body)

    # then the replay is the first answer: the conversation's own fields included
    assert first.status_code == 201
    assert first.json()["id"] == opened.json()["id"]
    assert first.json()["created_at"] == opened.json()["created_at"]
    assert first.json()["agent_role_id"] is not None
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_a_replay_answers_the_first_answer_even_after_its_channel_is_gone(
    api: ApiClient,
) -> None:
    tenant = make_tenant("Channel removed", channels=("sms",))
    first = send(api, tenant, "order-1006")
    assert first.status_code == 201
    with tenant.schema():
        remove_integration(tenant.integrations["sms"])
    assert error_of(api.send(tenant, channel="sms"))["code"] == "channel_not_configured"

    again = send(api, tenant, "order-1006")

    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    # and another body under the key is still a conflict, not a channel error
    other = send(api, tenant, "order-1006", {**BODY, "message": {"text": "Other"}})
    assert error_of(other)["code"] == "idempotency_conflict"


def test_a_send_with_a_key_claims_it_in_its_one_statement(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    assert send(api, tenant_a, "warm-up").status_code == 201  # caches filled

    with CaptureQueriesContext(connection) as queries:
        assert send(api, tenant_a, "one-statement").status_code == 201

    # Inside the test's transaction the statement runs in a savepoint, which checks its
    # deferred foreign keys itself; on its own it runs in autocommit, with none of these.
    in_savepoint = ("SAVEPOINT", "RELEASE SAVEPOINT", "SET CONSTRAINTS")
    own = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(in_savepoint)]
    assert len(own) == 1, own
    assert IdempotencyKey._meta.db_table in own[0] and "conversations_message" in own[0]
