"""The database backend (`engium.postgresql`): its health check and prepared statements."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import DataError, connection, connections
from django.db.backends.postgresql.base import DatabaseWrapper as DjangoDatabaseWrapper

from conversations.models import Message
from conversations.services import MessageContent, send_message
from tests.conftest import TenantFixture

pytestmark = pytest.mark.django_db


def backend_pid(wrapper: Any) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def checked(wrapper: Any) -> None:
    """What Django does before a request: the health check, once per request."""
    wrapper.health_check_done = False
    wrapper.close_if_health_check_failed()


@pytest.fixture
def other() -> Any:
    """A connection of its own (the test's runs the test's transaction)."""
    wrapper = connections.create_connection("default")
    wrapper.set_schema_to_public()
    yield wrapper
    wrapper.close()


def test_a_healthy_idle_connection_is_kept_without_a_round_trip(
    other: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = backend_pid(other)
    round_trips = []
    monkeypatch.setattr(
        DjangoDatabaseWrapper, "is_usable", lambda self: round_trips.append(1) or True
    )

    checked(other)

    assert other.connection is not None
    assert round_trips == []
    assert backend_pid(other) == pid


def test_a_connection_the_server_ended_is_replaced_before_the_next_request(other: Any) -> None:
    pid = backend_pid(other)
    _ended(pid)

    checked(other)

    assert backend_pid(other) != pid  # a new connection, and no error


def _ended(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the server ends it asynchronously
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.05)


def test_a_prepared_cursor_checks_the_connection_and_sets_the_search_path_first(
    other: Any,
) -> None:
    def ask(wrapper: Any) -> tuple[str, int]:
        with wrapper.prepared_cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('search_path'), pg_backend_pid() WHERE %s", [True]
            )
            setting, pid = cursor.fetchone()
            return str(setting), int(pid)

    # warm: the connection is on the schema's search_path; the next cursor keeps it
    first = ask(other)
    assert first[0] == "public"
    other.health_check_done = False
    assert ask(other) == first

    # when the server ends the session, the next request's prepared cursor is on a new one,
    # with the search_path set again
    _ended(first[1])
    other.health_check_done = False  # a new request
    setting, pid = ask(other)
    assert pid != first[1] and setting == "public"


def test_the_prepared_send_statement_writes_into_the_current_tenants_schema(
    tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    # when one connection sends for two tenants in turn, more often than it takes to prepare
    for index in range(4):
        for tenant in (tenant_a, tenant_b):
            with tenant.schema():
                send_message(
                    recipient=f"+1555010750{index}",
                    channel="sms",
                    content=MessageContent(text=f"for {tenant.tenant.name}"),
                )

    # then each tenant's schema holds its own messages only
    for tenant in (tenant_a, tenant_b):
        with tenant.schema():
            texts = set(Message.objects.values_list("text", flat=True))
        assert texts == {f"for {tenant.tenant.name}"}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%INSERT INTO conversations_conversation%"],
        )
        assert cursor.fetchone()[0] >= 1  # it was prepared, not parsed anew each time


def test_update_rows_saves_each_rows_own_values_in_one_statement(
    tenant_a: TenantFixture, django_assert_num_queries: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from engium.postgresql import update_rows

    with tenant_a.schema():
        messages = [
            send_message(
                recipient=f"+1555010{7100 + n}",
                channel="whatsapp",
                content=MessageContent(text="x"),
            )
            for n in range(3)
        ]
        later = timezone.now() + timedelta(minutes=5)
        first, second, untouched = messages
        first.provider_message_id, first.next_attempt_at, first.outcome_unknown = "SM1", None, True
        second.provider_message_id, second.next_attempt_at, second.attempts = "SM2", later, 7
        with django_assert_num_queries(1):
            updated = update_rows(
                [first, second],
                ["provider_message_id", "next_attempt_at", "outcome_unknown", "attempts"],
            )
        assert updated == 2
        rows = Message.objects.in_bulk([m.pk for m in messages])
    assert rows[first.pk].provider_message_id == "SM1" and rows[first.pk].next_attempt_at is None
    assert rows[first.pk].outcome_unknown is True
    assert rows[second.pk].provider_message_id == "SM2"
    assert rows[second.pk].next_attempt_at == later and rows[second.pk].attempts == 7
    assert rows[untouched.pk].provider_message_id == "" and rows[untouched.pk].attempts == 0


def test_the_prepared_cursor_is_kept_across_uses_and_goes_with_its_connection(other: Any) -> None:
    def use(wrapper: Any, value: Any) -> tuple[Any, Any]:
        with wrapper.prepared_cursor() as cursor:
            cursor.execute("SELECT %s::int, pg_backend_pid()", [value])
            return cursor.cursor, cursor.fetchone()

    first, (one, pid) = use(other, 1)
    second, (two, _) = use(other, 2)
    assert second is first and (one, two) == (1, 2)
    # between uses it holds neither the last statement's values nor its result
    assert first.pgresult is None and first._query is None

    # a statement that fails leaves it usable
    with pytest.raises(DataError), other.prepared_cursor() as cursor:
        cursor.execute("SELECT %s::int", ["not a number"])
    assert use(other, 3)[1][0] == 3

    # a new connection gets a cursor of its own
    _ended(pid)
    other.health_check_done = False
    replaced, (four, new_pid) = use(other, 4)
    assert replaced is not first and four == 4 and new_pid != pid
