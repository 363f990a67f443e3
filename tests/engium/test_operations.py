"""Health, readiness, status, request IDs, migrations in sync, OpenAPI served locally."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from engium.ids import is_valid_id, new_id


def test_healthz() -> None:
    answer = Client().get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
    assert answer["X-Request-ID"].startswith("req_")


@pytest.mark.django_db
def test_readyz_checks_database_and_broker() -> None:
    answer = Client().get("/readyz")
    assert answer.status_code == 200, answer.content
    checks = answer.json()["checks"]
    assert checks["database"]["ok"] and checks["broker"]["ok"]


@pytest.mark.django_db
def test_openapi_schema_and_docs_are_served_without_a_cdn() -> None:
    schema = Client().get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/conversations/send" in schema.content
    docs = Client().get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


@pytest.mark.django_db
def test_models_and_migrations_are_in_sync() -> None:
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_ids_are_prefixed_time_ordered_and_validated() -> None:
    ids = [new_id("msg") for _ in range(200)]
    assert all(is_valid_id(value, "msg") for value in ids)
    assert len(set(ids)) == 200
    assert ids[0][:14] <= ids[-1][:14], "the time part orders IDs by creation"
    assert not is_valid_id(ids[0], "sess")
    assert not is_valid_id("msg_" + "i" * 26, "msg"), "i is not Crockford base32"
    assert not is_valid_id(None, "msg") and not is_valid_id("msg_short", "msg")


def test_tasks_carry_the_request_id_of_the_request_that_enqueued_them() -> None:
    import json

    from conversations.services import DELIVER_MESSAGES
    from engium import outbox
    from engium.celery import app
    from engium.logging import current_request_id

    client = app.connection_for_write().default_channel.client
    message_id = new_id("msg")
    current_request_id.set("req_test_carried")
    try:
        assert outbox.publish(DELIVER_MESSAGES, schema="t_nobody", args=[[message_id]])
    finally:
        current_request_id.set(None)
    ours = [
        raw
        for raw in client.lrange("delivery", 0, -1)
        if message_id in json.loads(raw)["headers"].get("argsrepr", "")
    ]
    assert len(ours) == 1
    client.lrem("delivery", 1, ours[0])  # leave the queue as found
    headers = json.loads(ours[0])["headers"]
    assert headers["request_id"] == "req_test_carried"
    assert headers["_schema_name"] == "t_nobody"


# ------------------------------------------------------------------ status


def _count_pings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from engium import health

    calls: list[int] = []
    real = health._check_workers

    def counting() -> dict[str, Any]:
        calls.append(1)
        return real()

    monkeypatch.setattr(health, "_check_workers", counting)
    return calls


@pytest.mark.django_db
def test_status_requests_never_check_the_components_themselves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engium.health import refresh_status

    pings = _count_pings(monkeypatch)
    refresh_status()
    assert len(pings) == 1
    for _ in range(20):
        assert Client().get("/status?format=json").status_code == 200
        assert Client().get("/status").status_code == 200
    assert len(pings) == 1, "an anonymous request pinged the workers"


@pytest.mark.django_db
def test_status_is_a_summary_for_the_public_and_details_for_staff() -> None:
    from django.contrib.auth import get_user_model

    from engium.health import refresh_status

    refresh_status()
    public = Client().get("/status?format=json").json()
    assert set(public["components"]) == {"api", "database", "broker", "workers"}
    assert public["components"]["database"] == "operational"
    assert public["components"]["broker"] == "operational"
    assert public["checked_at"]
    assert "queue_depth" not in json.dumps(public) and "latency" not in json.dumps(public)

    staff = get_user_model().objects.create_user("ops@example.com", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)
    detailed = client.get("/status?format=json").json()
    broker = detailed["components"]["broker"]
    assert broker["status"] == "operational"
    assert set(broker["queue_depth"]) == {"delivery", "webhooks", "agents", "default"}
    assert "count" in detailed["components"]["workers"]
    page = client.get("/status")
    assert page.status_code == 200 and b"Engium is" in page.content


@pytest.mark.django_db
def test_a_missing_or_stale_snapshot_is_degraded_not_operational(settings: Any) -> None:
    from django.core.cache import cache

    from engium.health import STATUS_CACHE_KEY, refresh_status

    cache.delete(STATUS_CACHE_KEY)
    body = Client().get("/status?format=json").json()
    assert body["status"] == "degraded"
    assert body["components"]["database"] == "unknown"
    assert body["checked_at"] is None

    snapshot = refresh_status()
    snapshot["checked"] -= 3 * settings.ENGIUM_STATUS_REFRESH_SECONDS + 1
    cache.set(STATUS_CACHE_KEY, snapshot)
    assert Client().get("/status?format=json").json()["components"]["broker"] == "unknown"


def test_beat_refreshes_the_status_every_few_seconds(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-status"]
    assert entry["task"] == "engium.refresh_status"
    assert entry["schedule"] <= 10
    assert "engium.health" in settings.CELERY_IMPORTS
