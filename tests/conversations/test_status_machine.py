"""The message status state machine, status history and the events each change raises."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from conversations import services
from conversations.models import Message, MessageStatus, MessageStatusChange
from conversations.status import can_move
from integrations.providers.base import StatusReport
from tests.builders import sent_message_id
from tests.conftest import ApiClient, TenantFixture
from webhooks.models import Event

S = MessageStatus
ALL = list(S)

# Every allowed move; every other pair of statuses (including staying put) is refused.
ALLOWED: dict[str, set[str]] = {
    S.QUEUED: {S.SENDING, S.SENT, S.DELIVERED, S.READ, S.FAILED, S.UNDELIVERED},
    S.SENDING: {S.SENT, S.DELIVERED, S.READ, S.FAILED, S.UNDELIVERED},
    S.SENT: {S.DELIVERED, S.READ, S.FAILED, S.UNDELIVERED},
    S.DELIVERED: {S.READ},
    S.READ: set(),
    S.FAILED: set(),
    S.UNDELIVERED: set(),
    S.RECEIVED: set(),
}

EVENT_FOR: dict[str, str | None] = {
    S.SENDING: None,
    S.SENT: "conversation.message.sent",
    S.DELIVERED: "conversation.message.delivered",
    S.READ: "conversation.message.read",
    S.FAILED: "conversation.message.failed",
    S.UNDELIVERED: "conversation.message.failed",
}


def test_the_table_covers_every_status() -> None:
    assert (
        set(ALLOWED)
        == set(S.values)
        == {"queued", "sending", "sent", "delivered", "read", "failed", "undelivered", "received"}
    )


@pytest.mark.parametrize(("current", "new"), list(product(ALL, ALL)), ids=lambda s: str(s.value))
def test_can_move(current: MessageStatus, new: MessageStatus) -> None:
    expected = new in ALLOWED[current]
    assert can_move(current, new) is expected
    # plain strings (as stored and as providers report them) behave the same
    assert can_move(current.value, new.value) is expected


@pytest.mark.parametrize(
    ("current", "new"), [("queued", "bogus"), ("bogus", "sent"), ("sent", ""), ("", "sent")]
)
def test_can_move_refuses_unknown_statuses(current: str, new: str) -> None:
    assert can_move(current, new) is False


# ------------------------------------------------------------------ change_message_status

MessageFactory = Callable[..., Message]


@pytest.fixture
def make_message(api: ApiClient, tenant_a: TenantFixture) -> MessageFactory:
    """A queued outbound message in tenant A, read back from the database."""

    def make(recipient: str = "+15550104001", status: str | None = None) -> Message:
        message_id = sent_message_id(api, tenant_a, recipient=recipient)
        with tenant_a.schema():
            message = Message.objects.get(pk=message_id)
            if status is not None:
                Message.objects.filter(pk=message.pk).update(status=status)
                message.refresh_from_db()
        return message

    return make


def _history(tenant: TenantFixture, message_id: str) -> list[MessageStatusChange]:
    with tenant.schema():
        return list(
            MessageStatusChange.objects.filter(message_id=message_id).order_by("occurred_at", "id")
        )


def _message_events(tenant: TenantFixture, message_id: str) -> list[Event]:
    with tenant.schema():
        return [
            e
            for e in Event.objects.order_by("id")
            if e.type.startswith("conversation.message.") and e.data.get("id") == message_id
        ]


@pytest.mark.parametrize("new", [S.SENDING, S.SENT, S.DELIVERED, S.READ, S.FAILED, S.UNDELIVERED])
def test_change_records_history_and_raises_event(
    tenant_a: TenantFixture, make_message: MessageFactory, new: MessageStatus
) -> None:
    # given a queued message
    message = make_message()
    at = (datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=123456)

    # when
    with tenant_a.schema():
        changed = services.change_message_status(message, new, at=at)

    # then
    assert changed is True
    with tenant_a.schema():
        assert Message.objects.get(pk=message.pk).status == new
    history = _history(tenant_a, message.pk)
    assert [h.status for h in history] == ["queued", new]
    assert history[-1].occurred_at == at
    events = _message_events(tenant_a, message.pk)
    if EVENT_FOR[new] is None:
        assert events == []
    else:
        assert [e.type for e in events] == [EVENT_FOR[new]]
        assert events[0].data["status"] == new
        assert events[0].data["conversation_id"] == message.conversation_id


def test_change_without_time_uses_now(
    tenant_a: TenantFixture, make_message: MessageFactory
) -> None:
    message = make_message()
    before = datetime.now(UTC)
    with tenant_a.schema():
        services.change_message_status(message, S.SENT)
    after = datetime.now(UTC)
    assert before - timedelta(seconds=1) <= _history(tenant_a, message.pk)[-1].occurred_at <= after


@pytest.mark.parametrize(
    ("current", "new"),
    [(c, n) for c, n in product(ALL, ALL) if n not in ALLOWED[c]],
    ids=lambda s: str(s.value),
)
def test_refused_change_records_nothing(
    tenant_a: TenantFixture,
    make_message: MessageFactory,
    current: MessageStatus,
    new: MessageStatus,
) -> None:
    # given a message in `current`, with no history beyond its creation
    message = make_message(status=current)
    history_before = len(_history(tenant_a, message.pk))
    updated_at = message.updated_at

    with tenant_a.schema():
        changed = services.change_message_status(message, new, error_code="x", error_message="y")

    assert changed is False
    with tenant_a.schema():
        stored = Message.objects.get(pk=message.pk)
    assert (stored.status, stored.error_code, stored.updated_at) == (current, "", updated_at)
    assert len(_history(tenant_a, message.pk)) == history_before
    assert _message_events(tenant_a, message.pk) == []


def test_full_journey(tenant_a: TenantFixture, make_message: MessageFactory) -> None:
    message = make_message()
    start = datetime.now(UTC) + timedelta(minutes=5)
    steps = [S.SENDING, S.SENT, S.DELIVERED, S.READ]

    with tenant_a.schema():
        for i, step in enumerate(steps, start=1):
            assert services.change_message_status(message, step, at=start + timedelta(seconds=i))
        # a repeat of every step is a no-op
        for step in steps:
            assert not services.change_message_status(message, step)

    history = _history(tenant_a, message.pk)
    assert [h.status for h in history] == ["queued", *steps]
    assert [h.occurred_at for h in history[1:]] == [
        start + timedelta(seconds=i) for i in range(1, 5)
    ]
    assert [e.type for e in _message_events(tenant_a, message.pk)] == [
        "conversation.message.sent",
        "conversation.message.delivered",
        "conversation.message.read",
    ]


def test_failure_keeps_error_code_in_message_and_history(
    tenant_a: TenantFixture, make_message: MessageFactory
) -> None:
    message = make_message(status=S.SENT)
    with tenant_a.schema():
        services.change_message_status(
            message, S.UNDELIVERED, error_code="30003", error_message="Unreachable"
        )
        stored = Message.objects.get(pk=message.pk)
    assert (stored.status, stored.error_code, stored.error_message) == (
        "undelivered",
        "30003",
        "Unreachable",
    )
    last = _history(tenant_a, message.pk)[-1]
    assert (last.status, last.error_code, last.error_message) == (
        "undelivered",
        "30003",
        "Unreachable",
    )
    [event] = _message_events(tenant_a, message.pk)
    assert event.type == "conversation.message.failed"
    assert event.data["error_code"] == "30003"


# ------------------------------------------------------------------ apply_status_report


def test_late_delivered_after_read_changes_nothing(
    api: ApiClient, tenant_a: TenantFixture, make_message: MessageFactory
) -> None:
    # given a message that was read
    message = make_message()
    with tenant_a.schema():
        services.deliver_message(message.pk)
        services.apply_status_report(StatusReport(status="read", message_id=message.pk))
    history_before = _history(tenant_a, message.pk)
    events_before = _message_events(tenant_a, message.pk)
    assert [h.status for h in history_before] == ["queued", "sending", "sent", "read"]

    # when the delivered report arrives late
    with tenant_a.schema():
        services.apply_status_report(StatusReport(status="delivered", message_id=message.pk))

    # then
    with tenant_a.schema():
        assert Message.objects.get(pk=message.pk).status == "read"
    assert _history(tenant_a, message.pk) == history_before
    assert _message_events(tenant_a, message.pk) == events_before
    body = api.get(f"messages/{message.pk}", tenant=tenant_a).json()
    assert body["status"] == "read"
    assert [step["status"] for step in body["status_history"]] == [
        "queued",
        "sending",
        "sent",
        "read",
    ]


def test_report_by_provider_message_id(
    tenant_a: TenantFixture, make_message: MessageFactory
) -> None:
    # given a message the sandbox took
    message = make_message()
    with tenant_a.schema():
        services.deliver_message(message.pk)
        message.refresh_from_db()
    assert message.status == "sent"
    assert message.provider_message_id

    # when the provider reports by its own ID only, with its own time
    at = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
    with tenant_a.schema():
        result = services.apply_status_report(
            StatusReport(
                status="delivered", provider_message_id=message.provider_message_id, occurred_at=at
            )
        )

    # then
    assert result is not None and result.pk == message.pk
    with tenant_a.schema():
        assert Message.objects.get(pk=message.pk).status == "delivered"
    last = _history(tenant_a, message.pk)[-1]
    assert (last.status, last.occurred_at) == ("delivered", at)
    assert _message_events(tenant_a, message.pk)[-1].type == "conversation.message.delivered"


@pytest.mark.parametrize(
    "report",
    [
        StatusReport(status="delivered", provider_message_id="sbx_unknown"),
        StatusReport(status="delivered", message_id="msg_01jd8x0000000000000000000"),
        StatusReport(status="delivered"),
    ],
)
def test_report_for_unknown_message_changes_nothing(
    tenant_a: TenantFixture, make_message: MessageFactory, report: StatusReport
) -> None:
    message = make_message()
    with tenant_a.schema():
        services.deliver_message(message.pk)
        assert services.apply_status_report(report) is None
        assert Message.objects.get(pk=message.pk).status == "sent"


def test_report_with_mismatched_ids_changes_nothing(
    tenant_a: TenantFixture, make_message: MessageFactory
) -> None:
    first, second = make_message("+15550104002"), make_message("+15550104003")
    with tenant_a.schema():
        services.deliver_message(first.pk)
        services.deliver_message(second.pk)
        second.refresh_from_db()
        services.apply_status_report(
            StatusReport(
                status="delivered",
                message_id=first.pk,
                provider_message_id=second.provider_message_id,
            )
        )
        assert set(
            Message.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)
        ) == {"sent"}


def test_history_keeps_the_order_of_changes_when_provider_time_is_behind(
    api: ApiClient, tenant_a: TenantFixture, make_message: MessageFactory
) -> None:
    """A provider's clock (or its whole-second timestamps) may lag ours by a second.

    The history still reads in the order the status moved, never `delivered` before `sent`.
    """
    message = make_message()
    with tenant_a.schema():
        services.deliver_message(message.pk)  # queued → sending → sent, on our clock
        message.refresh_from_db()
        services.apply_status_report(
            StatusReport(
                status="delivered",
                provider_message_id=message.provider_message_id,
                occurred_at=datetime.now(UTC) - timedelta(seconds=1),
            )
        )
    body = api.get(f"messages/{message.pk}", tenant=tenant_a).json()
    assert [step["status"] for step in body["status_history"]] == [
        "queued",
        "sending",
        "sent",
        "delivered",
    ]


def test_failure_report_after_delivered_is_ignored(
    tenant_a: TenantFixture, make_message: MessageFactory
) -> None:
    message = make_message()
    with tenant_a.schema():
        services.deliver_message(message.pk)
        services.apply_status_report(StatusReport(status="delivered", message_id=message.pk))
        services.apply_status_report(
            StatusReport(
                status="failed", message_id=message.pk, error_code="30008", error_message="late"
            )
        )
        stored = Message.objects.get(pk=message.pk)
    assert (stored.status, stored.error_code) == ("delivered", "")
    assert [e.type for e in _message_events(tenant_a, message.pk)][
        -1
    ] == "conversation.message.delivered"


def test_inbound_message_never_moves(api: ApiClient, tenant_a: TenantFixture) -> None:
    response = api.post(
        f"integrations/{tenant_a.integrations['sms']}/sandbox/inbound",
        tenant=tenant_a,
        json_body={"from": "+15550104004", "text": "hi"},
    )
    message_id = response.json()["id"]
    with tenant_a.schema():
        for status in ("sent", "delivered", "read", "failed"):
            services.apply_status_report(StatusReport(status=status, message_id=message_id))
        assert Message.objects.get(pk=message_id).status == "received"
    assert [h.status for h in _history(tenant_a, message_id)] == ["received"]
