"""Reading conversations and messages: lists, filters, cursor pagination, details, close."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from conversations.models import Conversation, ConversationStatus, Message
from engium.ids import new_id
from tests.builders import events_of, list_ok, post_inbound, row_ids, send_ok
from tests.conftest import ApiClient, TenantFixture, error_of
from webhooks.models import EventType

_FIELDS = ["id", "conversation_id", "direction", "status", "text", "media_url"]
MESSAGE_FIELDS = {*_FIELDS, "status_history", "error_code", "error_message"}


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ------------------------------------------------------------------ conversation list


def test_list_shape_and_newest_first(api: ApiClient, tenant_a: TenantFixture) -> None:
    # given three conversations created one after the other
    created = [send_ok(api, tenant_a, recipient=f"+1555010200{i}")["id"] for i in range(3, 6)]

    # when
    body = list_ok(api, tenant_a, "conversations")

    # then
    assert row_ids(body) == list(reversed(created))
    assert body["has_more"] is False
    assert body["next_cursor"] is None
    row = body["data"][0]
    assert {"id", "status", "channel", "recipient", "created_at"} <= set(row)
    assert row["status"] == "active"
    assert row["recipient"] == "+15550102005"


def test_empty_list(api: ApiClient, tenant_a: TenantFixture) -> None:
    empty = {"data": [], "has_more": False, "next_cursor": None}
    assert list_ok(api, tenant_a, "conversations") == empty


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"channel": "whatsapp"}, {"wa_1", "wa_2_closed"}),
        ({"channel": "sms"}, {"sms_1"}),
        ({"channel": "voice"}, set()),
        ({"status": "active"}, {"wa_1", "sms_1"}),
        ({"status": "closed"}, {"wa_2_closed"}),
        ({"status": "pending_human"}, set()),
        ({"status": "active", "channel": "whatsapp"}, {"wa_1"}),
    ],
)
def test_list_filters_status_and_channel(
    api: ApiClient, tenant_a: TenantFixture, query: dict[str, str], expected: set[str]
) -> None:
    # given
    names = {
        "wa_1": send_ok(api, tenant_a, recipient="+15550102001")["id"],
        "wa_2_closed": send_ok(api, tenant_a, recipient="+15550102002")["id"],
        "sms_1": send_ok(api, tenant_a, recipient="+15550102001", channel="sms")["id"],
    }
    assert (
        api.post(f"conversations/{names['wa_2_closed']}/close", tenant=tenant_a).status_code == 200
    )

    # when
    body = list_ok(api, tenant_a, "conversations", **query)

    # then
    assert set(row_ids(body)) == {names[name] for name in expected}


@pytest.mark.parametrize(
    "given",
    [
        "+15550102999",
        "+1 555 010 2999",
        "+1 (555) 010-2999",
        "+1.555.010.2999",
        " +1-555-010-2999 ",
    ],
)
def test_list_filter_recipient_tolerates_punctuation(
    api: ApiClient, tenant_a: TenantFixture, given: str
) -> None:
    wanted = send_ok(api, tenant_a, recipient="+15550102999")["id"]
    send_ok(api, tenant_a, recipient="+15550102998")

    body = list_ok(api, tenant_a, "conversations", recipient=given)

    assert row_ids(body) == [wanted]


def test_list_filter_recipient_refuses_a_non_number(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    response = api.get("conversations", tenant=tenant_a, query={"recipient": "alice"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] in {"invalid_recipient", "validation_error"}
    assert error["field"] == "recipient"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"created_after": "2024-03-01T00:00:00Z"}, {"june", "january_25"}),
        ({"created_before": "2024-12-01T00:00:00Z"}, {"january_24", "june"}),
        ({"created_after": "2024-03-01T00:00Z", "created_before": "2024-12-01T00:00Z"}, {"june"}),
        (
            {"created_after": "2024-06-01T12:00+02:00", "created_before": "2024-06-01T12:00Z"},
            {"june"},
        ),
        ({"created_after": "2026-01-01T00:00:00Z"}, set()),
    ],
)
def test_list_filters_created_range(
    api: ApiClient, tenant_a: TenantFixture, query: dict[str, str], expected: set[str]
) -> None:
    # given three conversations backdated to known creation times
    times = {
        "january_24": datetime(2024, 1, 1, tzinfo=UTC),
        "june": datetime(2024, 6, 1, 11, 0, tzinfo=UTC),
        "january_25": datetime(2025, 1, 1, tzinfo=UTC),
    }
    names = {}
    for i, (name, at) in enumerate(times.items()):
        names[name] = send_ok(api, tenant_a, recipient=f"+1555010210{i}")["id"]
        with tenant_a.schema():
            Conversation.objects.filter(pk=names[name]).update(created_at=at)

    body = list_ok(api, tenant_a, "conversations", **query)

    assert set(row_ids(body)) == {names[name] for name in expected}


def test_cursor_pagination_visits_each_conversation_once(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    # given five conversations
    created = [send_ok(api, tenant_a, recipient=f"+1555010230{i}")["id"] for i in range(5)]

    # when walking the pages two at a time
    seen: list[str] = []
    pages: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 2}
    while True:
        page = list_ok(api, tenant_a, "conversations", **query)
        pages.append(page)
        seen += row_ids(page)
        if not page["has_more"]:
            break
        assert page["next_cursor"]
        query = {"limit": 2, "cursor": page["next_cursor"]}
        assert len(pages) < 10, "pagination does not end"

    # then
    assert [len(page["data"]) for page in pages] == [2, 2, 1]
    assert [page["has_more"] for page in pages] == [True, True, False]
    assert pages[-1]["next_cursor"] is None
    assert seen == list(reversed(created))


def test_cursor_pagination_with_filter(api: ApiClient, tenant_a: TenantFixture) -> None:
    whatsapp = [send_ok(api, tenant_a, recipient=f"+1555010240{i}")["id"] for i in range(3)]
    send_ok(api, tenant_a, recipient="+15550102409", channel="sms")

    first = list_ok(api, tenant_a, "conversations", limit=2, channel="whatsapp")
    second = list_ok(
        api, tenant_a, "conversations", limit=2, channel="whatsapp", cursor=first["next_cursor"]
    )

    assert row_ids(first) + row_ids(second) == list(reversed(whatsapp))
    assert second["has_more"] is False


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "2.5"}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": "sess_"}, "cursor"),
        ({"cursor": new_id("msg")}, "cursor"),  # a cursor of another list
        ({"cursor": "sess_" + "!" * 26}, "cursor"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_before": "2024-13-45T00:00:00Z"}, "created_before"),
        ({"status": "open"}, "status"),
        ({"status": "ACTIVE"}, "status"),
        ({"channel": "telegram"}, "channel"),
    ],
)
def test_list_refuses_bad_query(
    api: ApiClient, tenant_a: TenantFixture, query: dict[str, str], field: str
) -> None:
    response = api.get("conversations", tenant=tenant_a, query=query)

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert error["field"] == field


def test_limit_bounds_are_accepted(api: ApiClient, tenant_a: TenantFixture) -> None:
    send_ok(api, tenant_a, recipient="+15550102501")
    send_ok(api, tenant_a, recipient="+15550102502")
    assert len(list_ok(api, tenant_a, "conversations", limit=1)["data"]) == 1
    assert len(list_ok(api, tenant_a, "conversations", limit=100)["data"]) == 2


# ------------------------------------------------------------------ conversation detail


def test_conversation_detail_lists_messages_oldest_first(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    # given an outbound, an inbound and another outbound message in one conversation
    first = send_ok(api, tenant_a, recipient="+15550102601", message={"text": "one"})
    inbound = post_inbound(api, tenant_a, **{"from": "+15550102601", "text": "two"})
    assert inbound.status_code == 201, inbound.content
    third = send_ok(api, tenant_a, recipient="+15550102601", message={"text": "three"})
    assert third["id"] == first["id"]

    # when
    response = api.get(f"conversations/{first['id']}", tenant=tenant_a)

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"]) == (first["id"], "active")
    assert (body["channel"], body["recipient"]) == ("whatsapp", "+15550102601")
    messages = body["messages"]
    assert [m["text"] for m in messages] == ["one", "two", "three"]
    assert [m["direction"] for m in messages] == ["outbound", "inbound", "outbound"]
    assert [m["id"] for m in messages] == [
        first["message"]["id"],
        inbound.json()["id"],
        third["message"]["id"],
    ]
    for message in messages:
        assert set(message) >= MESSAGE_FIELDS
        assert message["conversation_id"] == first["id"]
        assert [step["status"] for step in message["status_history"]] == [message["status"]]


@pytest.mark.parametrize("path", ["conversations/{}", "conversations/{}/close", "messages/{}"])
@pytest.mark.parametrize("kind", ["well_formed", "garbage"])
def test_unknown_ids_are_not_found(
    api: ApiClient, tenant_a: TenantFixture, path: str, kind: str
) -> None:
    prefix = "msg" if path.startswith("messages") else "sess"
    unknown = new_id(prefix) if kind == "well_formed" else "nope"
    method = api.post if path.endswith("close") else api.get

    response = method(path.format(unknown), tenant=tenant_a)

    assert response.status_code == 404, response.content
    assert error_of(response)["code"] == "not_found"


# ------------------------------------------------------------------ close


def test_close_conversation(api: ApiClient, tenant_a: TenantFixture) -> None:
    # given
    conversation_id = send_ok(api, tenant_a, recipient="+15550102901")["id"]

    # when
    response = api.post(f"conversations/{conversation_id}/close", tenant=tenant_a)

    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"]) == (conversation_id, "closed")
    assert body["closed_at"] is not None
    [closed] = events_of(tenant_a, EventType.CONVERSATION_CLOSED)
    assert (closed.data["id"], closed.data["status"]) == (conversation_id, "closed")
    with tenant_a.schema():
        stored = Conversation.objects.get(pk=conversation_id)
    assert (stored.status, stored.closed_at is not None) == (ConversationStatus.CLOSED, True)
    detail = api.get(f"conversations/{conversation_id}", tenant=tenant_a).json()
    assert (detail["status"], detail["closed_at"]) == ("closed", body["closed_at"])


def test_closing_twice_changes_nothing(api: ApiClient, tenant_a: TenantFixture) -> None:
    conversation_id = send_ok(api, tenant_a, recipient="+15550102902")["id"]
    first = api.post(f"conversations/{conversation_id}/close", tenant=tenant_a).json()

    again = api.post(f"conversations/{conversation_id}/close", tenant=tenant_a)

    assert again.status_code == 200, again.content
    assert again.json()["status"] == "closed"
    assert again.json()["closed_at"] == first["closed_at"]
    assert len(events_of(tenant_a, EventType.CONVERSATION_CLOSED)) == 1


def test_send_after_close_opens_a_new_conversation(api: ApiClient, tenant_a: TenantFixture) -> None:
    closed_id = send_ok(api, tenant_a, recipient="+15550102903")["id"]
    api.post(f"conversations/{closed_id}/close", tenant=tenant_a)

    reopened = send_ok(api, tenant_a, recipient="+15550102903")

    assert reopened["id"] != closed_id
    assert reopened["status"] == "active"
    with tenant_a.schema():
        assert Message.objects.filter(conversation_id=closed_id).count() == 1
    assert len(events_of(tenant_a, EventType.CONVERSATION_CREATED)) == 2
