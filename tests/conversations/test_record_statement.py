"""The one statement that records a message (`conversations.services.messages`).

It is raw SQL built from the models: each table's columns come from the model, each value
from the statement's ``*_VALUES`` dicts. A column with neither a value there nor a database
default would be written as NULL (or fail every send); a value for a column the model lost
would fail every send. The statement reads a foreign-key violation as "the cached routing
named an integration or agent role that is gone", and only that.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import psycopg.errors
import pytest
from django.db import IntegrityError, connection, models
from django.db.models import NOT_PROVIDED

from agents.models import AgentRole
from conversations.models import Conversation, IdempotencyKey, Message, MessageStatusChange
from conversations.routing import get_routing
from conversations.services import MessageContent, send_message
from conversations.services.messages import (
    CONVERSATION_EVENT_VALUES,
    CONVERSATION_VALUES,
    IDEMPOTENCY_VALUES,
    MESSAGE_EVENT_VALUES,
    MESSAGE_VALUES,
    STATUS_CHANGE_VALUES,
)
from integrations.models import Integration
from tests.builders import create_integration, send_ok
from tests.conftest import ApiClient, TenantFixture, error_of
from webhooks.models import Event

# (table names come from the models; values are parameters)
DELETE_INTEGRATION = f"DELETE FROM {Integration._meta.db_table} WHERE id = %s"
MAKE_DEFAULT = f"UPDATE {Integration._meta.db_table} SET is_default = true WHERE id = %s"
DELETE_AGENT_ROLE = f"DELETE FROM {AgentRole._meta.db_table} WHERE id = %s"
WRITTEN = [
    pytest.param(Conversation, CONVERSATION_VALUES, id="conversation"),
    pytest.param(Message, MESSAGE_VALUES, id="message"),
    pytest.param(MessageStatusChange, STATUS_CHANGE_VALUES, id="status_change"),
    pytest.param(Event, CONVERSATION_EVENT_VALUES, id="conversation_event"),
    pytest.param(Event, MESSAGE_EVENT_VALUES, id="message_event"),
    pytest.param(IdempotencyKey, IDEMPOTENCY_VALUES, id="idempotency_key"),
]


def unwritten_columns(model: Any, values: dict[str, str]) -> list[str]:
    """Columns the statement gives no value that the database has no default for either."""
    return [
        field.column
        for field in model._meta.concrete_fields
        if field.column not in values
        and field.db_default is NOT_PROVIDED
        and not (field.primary_key and isinstance(field, models.AutoField))
    ]


def unknown_columns(model: Any, values: dict[str, str]) -> list[str]:
    """Keys of ``values`` that are no column of ``model``'s table."""
    return sorted(set(values) - {field.column for field in model._meta.concrete_fields})


# ------------------------------------------------------------------ built from the models


@pytest.mark.parametrize(("model", "values"), WRITTEN)
def test_every_column_has_a_value_or_a_database_default(
    model: type[models.Model], values: dict[str, str]
) -> None:
    assert unwritten_columns(model, values) == []


@pytest.mark.parametrize(("model", "values"), WRITTEN)
def test_every_value_is_for_a_column_of_the_table(
    model: type[models.Model], values: dict[str, str]
) -> None:
    assert unknown_columns(model, values) == []


def test_both_event_inserts_write_the_same_columns() -> None:
    # The statement inserts both events under the column list of the conversation event.
    assert list(CONVERSATION_EVENT_VALUES) == list(MESSAGE_EVENT_VALUES)


def test_a_field_added_without_a_value_or_a_database_default_is_caught() -> None:
    def message_with(field: models.Field[Any, Any]) -> Any:
        field.set_attributes_from_name("added")
        return SimpleNamespace(
            _meta=SimpleNamespace(concrete_fields=[*Message._meta.concrete_fields, field])
        )

    with_default_only = message_with(models.CharField(max_length=8, default=""))
    with_db_default = message_with(models.CharField(max_length=8, db_default=""))

    assert unwritten_columns(with_default_only, MESSAGE_VALUES) == ["added"]
    assert unwritten_columns(with_db_default, MESSAGE_VALUES) == []
    assert unknown_columns(Message, {**MESSAGE_VALUES, "removed": "NULL"}) == ["removed"]


# ------------------------------------------------------------------ integrity errors


def test_a_violation_other_than_a_foreign_key_is_raised_not_read_as_a_missing_channel(
    tenant_a: TenantFixture,
) -> None:
    with tenant_a.schema():
        before = (Conversation.objects.count(), Message.objects.count(), Event.objects.count())

        with pytest.raises(IntegrityError) as raised:
            send_message(
                recipient="+15550107201", channel="whatsapp", content=MessageContent(text=None)
            )

        assert isinstance(raised.value.__cause__, psycopg.errors.NotNullViolation)
        after = (Conversation.objects.count(), Message.objects.count(), Event.objects.count())
        assert after == before


def _behind_the_routing_cache(*statements: tuple[str, list[Any]]) -> None:
    """Run SQL ``statements`` without the signals that forget the tenant's cached routing.

    The test runs inside a transaction, as a send inside a caller's transaction would: the
    send checks its deferred foreign keys itself there, so the failure shows at once.
    """
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)


def test_an_integration_deleted_behind_the_routing_cache_is_channel_not_configured(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    # given sends routed (and cached) to a new default SMS integration
    newer = create_integration(tenant_a, "sms", is_default=True)
    with tenant_a.schema():
        assert get_routing().integrations["sms"] == newer.id
        # when it is deleted, with no other default for SMS
        _behind_the_routing_cache((DELETE_INTEGRATION, [newer.id]))
        before = (Conversation.objects.count(), Message.objects.count())

    # then
    response = api.send(tenant_a, channel="sms", recipient="+15550107202")
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert (error["code"], error["field"]) == ("channel_not_configured", "channel")
    with tenant_a.schema():
        assert (Conversation.objects.count(), Message.objects.count()) == before


def test_a_send_through_an_integration_deleted_behind_the_cache_takes_the_current_default(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    # given sends routed (and cached) to a new default SMS integration
    older = tenant_a.integrations["sms"]
    newer = create_integration(tenant_a, "sms", is_default=True)
    with tenant_a.schema():
        assert get_routing().integrations["sms"] == newer.id
        # when it is deleted and the older one is the default again
        _behind_the_routing_cache(
            (DELETE_INTEGRATION, [newer.id]),
            (MAKE_DEFAULT, [older]),
        )

    # then the send is retried with the routing read afresh
    sent = send_ok(api, tenant_a, channel="sms", recipient="+15550107203")
    assert sent["integration_id"] == older
    with tenant_a.schema():
        assert Message.objects.get(pk=sent["message"]["id"]).integration_id == older


def test_a_default_agent_role_deleted_behind_the_cache_leaves_the_conversation_without_one(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    # given a default agent role in the cached routing
    with tenant_a.schema():
        role = AgentRole.objects.create(name="Gone", instructions="Be kind.", is_default=True)
        assert get_routing().default_agent_role_id == str(role.id)
        # when it is deleted
        _behind_the_routing_cache((DELETE_AGENT_ROLE, [role.id]))

    # then a new conversation opens without an agent role
    sent = send_ok(api, tenant_a, recipient="+15550107204")
    assert sent["agent_role_id"] is None
    with tenant_a.schema():
        assert Conversation.objects.get(pk=sent["id"]).agent_role_id is None
