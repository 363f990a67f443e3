"""The webhooks API: endpoints, secrets, the delivery log, test events and replays."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone
from standardwebhooks import Webhook

from engium.timestamps import iso_time
from tests.conftest import ApiClient, TenantFixture, error_of
from tests.http_server import Reply, ScriptedServer
from webhooks.models import Delivery, DeliveryStatus
from webhooks.services import send_deliveries


def create(api: ApiClient, tenant: TenantFixture, url: str, **body: Any) -> dict[str, Any]:
    answer = api.post("webhooks", tenant=tenant, json_body={"url": url, "events": ["*"], **body})
    assert answer.status_code == 201, answer.content
    return dict(answer.json())


def send_pending(tenant: TenantFixture) -> None:
    with tenant.schema():
        ids = Delivery.objects.filter(status="pending").values_list("pk", flat=True)
        send_deliveries([str(pk) for pk in ids])


def test_create_answers_the_secret_and_stores_it_encrypted(
    api: ApiClient, tenant_a: TenantFixture, receiver: ScriptedServer
) -> None:
    created = create(api, tenant_a, receiver.url, description="orders")
    assert created["id"].startswith("whep_")
    assert created["enabled"] is True and created["disabled_reason"] is None
    assert created["events"] == ["*"] and created["description"] == "orders"
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    with tenant_a.schema(), connection.cursor() as cursor:
        cursor.execute("SELECT secrets FROM webhooks_endpoint WHERE id = %s", [created["id"]])
        (stored,) = cursor.fetchone()
    assert secret[6:] not in stored and "whsec_" not in stored
    detail = api.get(f"webhooks/{created['id']}", tenant=tenant_a).json()
    assert "secret" not in detail
    again = api.get(f"webhooks/{created['id']}/secret", tenant=tenant_a).json()
    assert again == {"secret": secret, "previous_secret_valid_until": None}


def test_event_types_are_validated(
    api: ApiClient, tenant_a: TenantFixture, receiver: ScriptedServer
) -> None:
    for events in (["conversation.nope"], [], "conversation.created", ["webhook.test"]):
        answer = api.post(
            "webhooks", tenant=tenant_a, json_body={"url": receiver.url, "events": events}
        )
        assert answer.status_code == 400, events
        assert error_of(answer)["code"] == "validation_error"
    created = create(
        api,
        tenant_a,
        receiver.url,
        events=["conversation.message.delivered", "conversation.message.read"],
    )
    assert created["events"] == ["conversation.message.delivered", "conversation.message.read"]
    assert create(api, tenant_a, receiver.url, events=["*", "conversation.created"])["events"] == [
        "*"
    ]


def test_list_update_delete(
    api: ApiClient, tenant_a: TenantFixture, receiver: ScriptedServer
) -> None:
    first, second, third = (create(api, tenant_a, receiver.url) for _ in range(3))
    page = api.get("webhooks", tenant=tenant_a, query={"limit": 2}).json()
    assert [e["id"] for e in page["data"]] == [third["id"], second["id"]]
    assert page["has_more"] is True
    rest = api.get(
        "webhooks", tenant=tenant_a, query={"limit": 2, "cursor": page["next_cursor"]}
    ).json()
    assert [e["id"] for e in rest["data"]] == [first["id"]] and rest["has_more"] is False

    changed = api.patch(
        f"webhooks/{first['id']}",
        tenant=tenant_a,
        json_body={"enabled": False, "events": ["conversation.closed"], "description": "x"},
    )
    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert (body["enabled"], body["events"], body["description"]) == (
        False,
        ["conversation.closed"],
        "x",
    )
    assert body["disabled_reason"]
    enabled = api.patch(f"webhooks/{first['id']}", tenant=tenant_a, json_body={"enabled": True})
    assert enabled.json()["disabled_reason"] is None

    assert api.delete(f"webhooks/{first['id']}", tenant=tenant_a).status_code == 204
    assert api.get(f"webhooks/{first['id']}", tenant=tenant_a).status_code == 404
    # another tenant's endpoint does not exist for this one
    assert api.get(f"webhooks/{second['id']}", tenant=None).status_code in (401, 403)


def test_endpoints_are_per_tenant(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture, receiver: ScriptedServer
) -> None:
    created = create(api, tenant_a, receiver.url)
    assert api.get(f"webhooks/{created['id']}", tenant=tenant_b).status_code == 404
    assert api.get("webhooks", tenant=tenant_b).json()["data"] == []


def test_rotate_secret_answers_the_new_secret_and_keeps_the_old_a_day(
    api: ApiClient, tenant_a: TenantFixture, receiver: ScriptedServer
) -> None:
    created = create(api, tenant_a, receiver.url)
    rotated = api.post(f"webhooks/{created['id']}/rotate-secret", tenant=tenant_a)
    assert rotated.status_code == 200, rotated.content
    body = rotated.json()
    assert body["secret"] != created["secret"] and body["secret"].startswith("whsec_")
    until = timezone.datetime.fromisoformat(body["previous_secret_valid_until"])
    assert timedelta(hours=23) < until - timezone.now() <= timedelta(hours=24)
    api.post(f"webhooks/{created['id']}/test", tenant=tenant_a)
    send_pending(tenant_a)
    (received,) = receiver.received
    for secret in (created["secret"], body["secret"]):
        assert Webhook(secret).verify(received.body, received.headers)["type"] == "webhook.test"


def test_test_event_delivery_log_and_replay(
    api: ApiClient, tenant_a: TenantFixture, receiver: ScriptedServer
) -> None:
    created = create(api, tenant_a, receiver.url)
    receiver.replies.append(Reply(status=500, body={"error": "boom"}))
    queued = api.post(f"webhooks/{created['id']}/test", tenant=tenant_a)
    assert queued.status_code == 202, queued.content
    delivery = queued.json()
    assert delivery["id"].startswith("evt_") and delivery["event_type"] == "webhook.test"
    assert (delivery["status"], delivery["attempt_count"], delivery["attempts"]) == (
        "pending",
        0,
        [],
    )
    send_pending(tenant_a)
    path = f"webhooks/{created['id']}/deliveries/{delivery['id']}"
    logged = api.get(path, tenant=tenant_a).json()
    assert logged["status"] == "pending" and logged["next_attempt_at"]
    (attempt,) = logged["attempts"]
    assert attempt["status_code"] == 500 and attempt["succeeded"] is False
    assert attempt["response"] == '{"error": "boom"}' and attempt["duration_ms"] >= 0

    replayed = api.post(f"{path}/replay", tenant=tenant_a)
    assert replayed.status_code == 202, replayed.content
    send_pending(tenant_a)
    logged = api.get(path, tenant=tenant_a).json()
    assert logged["status"] == "succeeded"
    assert [a["status_code"] for a in logged["attempts"]] == [500, 200]
    assert {r.headers["webhook-id"] for r in receiver.received} == {delivery["id"]}

    listed = api.get(f"webhooks/{created['id']}/deliveries", tenant=tenant_a).json()
    assert [d["id"] for d in listed["data"]] == [delivery["id"]]
    failed_only = api.get(
        f"webhooks/{created['id']}/deliveries", tenant=tenant_a, query={"status": "failed"}
    ).json()
    assert failed_only["data"] == []
    missing = api.get(
        f"webhooks/{created['id']}/deliveries/evt_00000000000000000000000000", tenant=tenant_a
    )
    assert missing.status_code == 404


def test_replay_sends_the_failed_deliveries_of_a_time_range(
    api: ApiClient, tenant_a: TenantFixture, receiver: ScriptedServer
) -> None:
    created = create(api, tenant_a, receiver.url)
    ids = [api.post(f"webhooks/{created['id']}/test", tenant=tenant_a).json()["id"] for _ in "abc"]
    now = timezone.now()
    with tenant_a.schema():
        Delivery.objects.filter(event_id__in=ids[:2]).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None
        )
        Delivery.objects.filter(event_id=ids[0]).update(created_at=now - timedelta(days=2))
        Delivery.objects.filter(event_id=ids[2]).update(status=DeliveryStatus.SUCCEEDED)
    answer = api.post(
        f"webhooks/{created['id']}/replay",
        tenant=tenant_a,
        json_body={
            "since": iso_time(now - timedelta(hours=1)),
            "until": iso_time(now + timedelta(hours=1)),
        },
    )
    assert answer.status_code == 202, answer.content
    assert answer.json() == {"replayed": 1}
    send_pending(tenant_a)
    assert [r.headers["webhook-id"] for r in receiver.received] == [ids[1]]
    bad = api.post(
        f"webhooks/{created['id']}/replay",
        tenant=tenant_a,
        json_body={"since": iso_time(now), "until": iso_time(now - timedelta(hours=1))},
    )
    assert bad.status_code == 400 and error_of(bad)["field"] == "until"
