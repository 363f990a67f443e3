"""Reading messages: GET /api/v1/messages (filters, pagination) and /api/v1/messages/{id}."""

from __future__ import annotations

from datetime import datetime

import pytest

from conversations import services
from engium.ids import new_id
from integrations.providers.base import StatusReport
from tests.builders import list_ok, post_inbound, row_ids, send_ok
from tests.conftest import ApiClient, TenantFixture, error_of

_FIELDS = ["id", "conversation_id", "direction", "status", "text", "media_url"]
MESSAGE_FIELDS = {*_FIELDS, "status_history", "error_code", "error_message"}


def test_message_detail_with_status_history(api: ApiClient, tenant_a: TenantFixture) -> None:
    # given a message delivered by the sandbox, then reported delivered
    sent = send_ok(api, tenant_a, recipient="+15550102701", message={"text": "Hi there"})
    message_id = sent["message"]["id"]
    with tenant_a.schema():
        services.deliver_message(message_id)
        services.apply_status_report(StatusReport(status="delivered", message_id=message_id))

    # when
    response = api.get(f"messages/{message_id}", tenant=tenant_a)

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) >= MESSAGE_FIELDS
    assert {key: body[key] for key in MESSAGE_FIELDS - {"status_history"}} == {
        "id": message_id,
        "conversation_id": sent["id"],
        "direction": "outbound",
        "status": "delivered",
        "text": "Hi there",
        "media_url": None,
        "error_code": None,
        "error_message": None,
    }
    history = body["status_history"]
    assert [step["status"] for step in history] == ["queued", "sending", "sent", "delivered"]
    times = [datetime.fromisoformat(step["at"].replace("Z", "+00:00")) for step in history]
    assert all(t.tzinfo is not None for t in times)
    assert times == sorted(times)


def test_failed_message_shows_error(api: ApiClient, tenant_a: TenantFixture) -> None:
    # given a recipient the sandbox refuses
    sent = send_ok(api, tenant_a, recipient="+15550100001")
    message_id = sent["message"]["id"]
    with tenant_a.schema():
        services.deliver_message(message_id)

    body = api.get(f"messages/{message_id}", tenant=tenant_a).json()

    assert body["status"] == "failed"
    assert body["error_code"] == "sandbox_unreachable"
    assert body["error_message"]
    assert [step["status"] for step in body["status_history"]] == ["queued", "sending", "failed"]
    assert body["status_history"][-1].get("error_code") == "sandbox_unreachable"


def test_media_message_shows_media_url(api: ApiClient, tenant_a: TenantFixture) -> None:
    url = "https://example.com/cat.jpg"
    sent = send_ok(
        api, tenant_a, recipient="+15550102702", message={"media_url": url, "media_type": "image"}
    )
    body = api.get(f"messages/{sent['message']['id']}", tenant=tenant_a).json()
    assert body["media_url"] == url
    assert body["text"] == ""


def _message_fixture(api: ApiClient, tenant: TenantFixture) -> dict[str, str]:
    wa = send_ok(api, tenant, recipient="+15550102801", message={"text": "wa out 1"})
    wa2 = send_ok(api, tenant, recipient="+15550102801", message={"text": "wa out 2"})
    inbound = post_inbound(api, tenant, **{"from": "+15550102801", "text": "wa in"}).json()
    sms = send_ok(api, tenant, recipient="+15550102802", channel="sms", message={"text": "sms out"})
    with tenant.schema():
        services.deliver_message(wa2["message"]["id"])  # → sent
    return {
        "conversation_wa": wa["id"],
        "conversation_sms": sms["id"],
        "wa_out_1": wa["message"]["id"],
        "wa_out_2": wa2["message"]["id"],
        "wa_in": inbound["id"],
        "sms_out": sms["message"]["id"],
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"wa_out_1", "wa_out_2", "wa_in", "sms_out"}),
        ({"conversation_id": "conversation_wa"}, {"wa_out_1", "wa_out_2", "wa_in"}),
        ({"conversation_id": "conversation_sms"}, {"sms_out"}),
        ({"direction": "inbound"}, {"wa_in"}),
        ({"direction": "outbound"}, {"wa_out_1", "wa_out_2", "sms_out"}),
        ({"status": "queued"}, {"wa_out_1", "sms_out"}),
        ({"status": "sent"}, {"wa_out_2"}),
        ({"status": "received"}, {"wa_in"}),
        ({"status": "read"}, set()),
        ({"channel": "sms"}, {"sms_out"}),
        ({"channel": "whatsapp", "direction": "outbound"}, {"wa_out_1", "wa_out_2"}),
    ],
)
def test_message_list_filters(
    api: ApiClient, tenant_a: TenantFixture, query: dict[str, str], expected: set[str]
) -> None:
    names = _message_fixture(api, tenant_a)
    resolved = {key: names.get(value, value) for key, value in query.items()}

    body = list_ok(api, tenant_a, "messages", **resolved)

    assert set(row_ids(body)) == {names[name] for name in expected}
    for row in body["data"]:
        assert set(row) >= MESSAGE_FIELDS
        assert row["status_history"], row


def test_message_list_newest_first_and_paginates(api: ApiClient, tenant_a: TenantFixture) -> None:
    names = _message_fixture(api, tenant_a)
    expected = [names[n] for n in ("sms_out", "wa_in", "wa_out_2", "wa_out_1")]

    first = list_ok(api, tenant_a, "messages", limit=3)
    second = list_ok(api, tenant_a, "messages", limit=3, cursor=first["next_cursor"])

    assert row_ids(first) + row_ids(second) == expected
    assert (first["has_more"], second["has_more"]) == (True, False)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"direction": "sideways"}, "direction"),
        ({"channel": "fax"}, "channel"),
        ({"limit": "0"}, "limit"),
        ({"cursor": new_id("sess")}, "cursor"),
        ({"created_after": "not-a-date"}, "created_after"),
    ],
)
def test_message_list_refuses_bad_query(
    api: ApiClient, tenant_a: TenantFixture, query: dict[str, str], field: str
) -> None:
    response = api.get("messages", tenant=tenant_a, query=query)
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert (error["code"], error["field"]) == ("validation_error", field)
