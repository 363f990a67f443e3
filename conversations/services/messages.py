"""Sending and receiving messages."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import psycopg.errors
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from agents.models import AgentRole
from conversations.models import (
    OPEN_CONVERSATION_STATUSES,
    AgentTurn,
    Conversation,
    ConversationStatus,
    IdempotencyKey,
    Message,
    MessageDirection,
    MessageStatus,
    MessageStatusChange,
)
from conversations.payloads import conversation_payload, message_payload
from conversations.recipients import normalize_recipient
from conversations.routing import forget_routing, get_routing
from conversations.services.agent_dispatch import dispatch_agent_turn
from conversations.services.delivery import DISPATCH_MESSAGES
from conversations.services.dispatch import leave_for_the_sweep
from conversations.services.idempotency import Claim, KeyTaken
from engium import outbox
from engium.exceptions import AgentRoleNotFound, ChannelNotConfigured, OutsideSessionWindow
from engium.ids import new_id
from engium.instances import build
from engium.postgresql import prepared_cursor
from engium.tenancy import current_schema
from engium.timestamps import iso_time, iso_time_sql
from integrations.models import Integration
from integrations.providers.base import InboundMessage
from media.services import check_media_for_send
from message_templates.services import render_template
from tenants.models import Language
from webhooks.models import Event, EventType
from webhooks.services.events import dispatch_new_deliveries, fan_out_sql

#: WhatsApp's customer-service window: free-form messages within 24 h of the recipient's last
SESSION_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class MessageContent:
    """What a message says: text, media (with optional caption) or a template reference.

    For a send, ``template`` is the request's ``{"id", "language"?, "variables"?}``;
    `send_message` renders it into ``text``, keeps ``{"id", "language"}`` as the reference
    and sets ``provider_template``.
    """

    text: str = ""
    media_url: str = ""
    media_type: str = ""
    template: dict[str, Any] | None = None
    provider_template: dict[str, Any] | None = None
    details: dict[str, Any] | None = None


def send_message(
    *,
    recipient: str,
    channel: str,
    content: MessageContent,
    agent_role_id: str | None = None,
    default_language: str | None = None,
    in_reply_to: str | None = None,
    claim: Claim | None = None,
    before_sql: Callable[[], object] | None = None,
) -> Message:
    """Queue an outbound message in the current tenant; returns it with its conversation.

    A template is rendered in its requested language, else ``default_language`` (the
    tenant's; read from the connection's tenant when not given), else English.

    ``in_reply_to``: the inbound message an agent answers with this one. At most one
    message answers each (constraint ``one_agent_reply_per_message``): a second raises
    `IntegrityError` and records nothing.

    The message joins the recipient's open conversation on the channel or opens one. The
    message row and its delivery request (``next_attempt_at``, waiting for dispatch) are
    recorded in one statement; the tenant's dispatcher is woken after that
    (`engium.outbox.submit`, batched per tenant), and if the broker is down then, the
    outbox sweep dispatches it later: an accepted message is never lost. With a ``claim``, the same
    statement records the Idempotency-Key and the answer, or fails as a whole with
    `KeyTaken` (`conversations.services.idempotency`).

    ``before_sql`` runs before the send's first SQL statement (the read of an agent role,
    media, template or WhatsApp's window, else the write), maybe more than once; what it
    raises ends the send with nothing written (the API's rate limiter decides there).
    """
    admit = before_sql or _nothing
    recipient = normalize_recipient(recipient)
    if agent_role_id is not None:
        admit()
        if not AgentRole.objects.filter(pk=agent_role_id).exists():
            raise AgentRoleNotFound(field="agent_role_id")
    # Reads before the one statement (the template; WhatsApp's window): the statement
    # stays the send's only write.
    routing = get_routing()
    if content.media_url:
        # Our own media URL: its signature, tenant, media type and the channel's limits.
        admit()
        check_media_for_send(content.media_url, media_type=content.media_type, channel=channel)
    if content.template is not None:
        admit()
        rendered = render_template(
            content.template,
            default_language=default_language or _tenant_language(),
            require_approval=channel in routing.native_template_channels,
        )
        content = replace(
            content,
            text=rendered.text,
            template=rendered.reference,
            provider_template=rendered.provider_template,
        )
    elif channel in routing.session_window_channels:
        admit()
        check_session_window(channel, recipient)

    # The routing comes from the cache; if a foreign key fails, it named an integration or
    # agent role removed meanwhile: read it afresh and try once more.
    for fresh in (False, True):
        routing = get_routing(refresh=True) if fresh else routing
        integration_id = routing.integrations.get(channel)
        if integration_id is None:
            raise ChannelNotConfigured(
                f"No active {channel} integration: connect one in Settings → Integrations.",
                field="channel",
            )
        try:
            message = _record_message(
                channel=channel,
                recipient=recipient,
                integration_id=integration_id,
                agent_role_id=agent_role_id,
                default_agent_role_id=routing.default_agent_role_id,
                direction=MessageDirection.OUTBOUND,
                status=MessageStatus.QUEUED,
                content=content,
                in_reply_to=in_reply_to,
                claim=claim,
                before_sql=admit,
            )
            break
        except IntegrityError as exc:
            # Only a foreign key means a missing integration or agent role; any other
            # violation is a bug and must not pass for a client's mistake.
            if not isinstance(exc.__cause__, psycopg.errors.ForeignKeyViolation):
                raise
            forget_routing()
            if fresh:
                if agent_role_id is not None:
                    raise AgentRoleNotFound(field="agent_role_id") from exc
                raise ChannelNotConfigured(field="channel") from exc
    schema = current_schema()
    transaction.on_commit(
        lambda: outbox.submit(
            DISPATCH_MESSAGES,
            schema=schema,
            item_id=message.id,
            if_unpublished=leave_for_the_sweep,
            coalesce=True,
        )
    )
    return message


def _nothing() -> None:
    return None


def _tenant_language() -> str:
    tenant = getattr(connection, "tenant", None)
    return str(getattr(tenant, "default_language", "") or Language.EN)


def check_session_window(channel: str, recipient: str, *, now: datetime | None = None) -> None:
    """Refuse a free-form message to a recipient who has not written in the last 24 hours
    (`OutsideSessionWindow`, naming when the window closed): WhatsApp would fail it (131047).

    One index probe (``message_inbound_by_recipient``), made only for channels whose
    integration enforces the window (WhatsApp Cloud, unless switched off).
    """
    now = now or timezone.now()
    last_inbound = (
        Message.objects.filter(
            channel=channel, recipient=recipient, direction=MessageDirection.INBOUND
        )
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if last_inbound is not None and now - last_inbound < SESSION_WINDOW:
        return
    if last_inbound is None:
        message = (
            f"{recipient} has never written to you on {channel}: WhatsApp takes only a template "
            "message to start a conversation. Send one with message.template "
            "(see /api/v1/templates)."
        )
    else:
        closed_at = iso_time(last_inbound + SESSION_WINDOW)
        message = (
            f"The 24-hour window to reply to {recipient} closed at {closed_at} (24 h after they "
            "last wrote): WhatsApp takes only a template message now. Send one with "
            "message.template (see /api/v1/templates)."
        )
    raise OutsideSessionWindow(message, field="message")


def receive_message(integration: Integration, inbound: InboundMessage) -> Message:
    """Store a message a recipient wrote, on their open conversation (opening one if needed).

    When the conversation's agent role owes an answer, the message is recorded with
    ``agent_turn = pending`` and the task that answers it is published once the caller's
    transaction commits (at once in autocommit); if the broker is down then, the outbox
    sweep publishes it (`conversations.services.agent_turns`).
    """
    sender = normalize_recipient(inbound.sender, field="from")
    message = _record_message(
        channel=integration.channel,
        recipient=sender,
        integration_id=integration.id,
        agent_role_id=None,
        default_agent_role_id=get_routing().default_agent_role_id,
        direction=MessageDirection.INBOUND,
        status=MessageStatus.RECEIVED,
        content=MessageContent(
            text=inbound.text,
            media_url=inbound.media_url or "",
            media_type=inbound.media_type or "",
            details=dict(inbound.details) if inbound.details is not None else None,
        ),
        provider_message_id=inbound.provider_message_id or "",
    )
    if message.agent_turn == AgentTurn.PENDING:
        schema = current_schema()
        transaction.on_commit(lambda: dispatch_agent_turn(schema, message.id))
    return message


# One statement records a message: it joins (or opens) the conversation, inserts the message
# and its first status step, and raises the events with one webhook delivery per subscribed
# endpoint (`webhooks.services.events.fan_out_sql`), atomically and in one round trip (no
# BEGIN/COMMIT), because this is the send endpoint's whole cost in the database.
#
# The statement is built from the models: every concrete column of each table is either
# given a value below or has a database default (``db_default``), so that adding a field
# without a value here fails `tests/conversations/test_record_statement.py` at once
# instead of writing NULLs (docs/architecture.md#the-one-statement).
# An inbound message on an active conversation with an agent role (its own, or the tenant's
# default) owes an agent turn: the message row is that turn's outbox entry.
_AGENT_TURN_OWED = (
    "(%(direction)s::varchar = 'inbound' AND conversation.status = 'active' "
    "AND COALESCE(conversation.agent_role_id, %(new_agent_role_id)s::uuid) IS NOT NULL)"
)
CONVERSATION_VALUES = {
    "id": "%(conversation_id)s",
    "channel": "%(channel)s",
    "recipient": "%(recipient)s",
    "status": "%(conversation_status)s",
    "integration_id": "%(integration_id)s",
    "agent_role_id": "%(new_agent_role_id)s::uuid",
    "created_at": "%(at)s",
    "last_activity_at": "%(at)s",
    "closed_at": "NULL",
}
MESSAGE_VALUES = {
    "id": "%(message_id)s",
    "conversation_id": "conversation.id",
    "direction": "%(direction)s",
    "channel": "%(channel)s",
    "recipient": "%(recipient)s",
    "integration_id": "%(integration_id)s",
    "status": "%(status)s",
    "text": "%(text)s",
    "media_url": "%(media_url)s",
    "media_type": "%(media_type)s",
    "template": "%(template)s::jsonb",
    "provider_template": "%(provider_template)s::jsonb",
    "details": "%(details)s::jsonb",
    "provider_message_id": "%(provider_message_id)s",
    "next_attempt_at": "%(next_attempt_at)s",
    "dispatched_at": "NULL",  # waiting: the dispatcher takes it (services/dispatch.py)
    "agent_turn": f"CASE WHEN {_AGENT_TURN_OWED} THEN 'pending' ELSE '' END",
    "agent_dispatched_at": f"CASE WHEN {_AGENT_TURN_OWED} THEN %(at)s END",
    "in_reply_to_id": "%(in_reply_to_id)s",
    "created_at": "%(at)s",
    "updated_at": "%(at)s",
}
STATUS_CHANGE_VALUES = {
    "message_id": "message.id",
    "status": "%(status)s",
    "occurred_at": "%(at)s",
}
CONVERSATION_EVENT_VALUES = {
    "id": "%(conversation_event_id)s",
    "type": "%(conversation_event_type)s",
    "data": "%(conversation_data)s::jsonb",
    "created_at": "%(at)s",
}
MESSAGE_EVENT_VALUES = {
    "id": "%(message_event_id)s",
    "type": "%(message_event_type)s",
    "data": "jsonb_set(%(message_data)s::jsonb, '{conversation_id}', "
    "to_jsonb(message.conversation_id))",
    "created_at": "%(at)s",
}
# With an Idempotency-Key: its row, holding the send's answer. Python renders the answer
# before the statement (`Claim.render`, the API's shape of a send); only the statement knows
# the conversation the message joined, so it writes that conversation's own fields.
IDEMPOTENCY_VALUES = {
    "key": "%(idempotency_key)s",
    "request_hash": "%(request_hash)s",
    "status_code": "201",
    # A new conversation is the one the answer was rendered with: the answer as it is.
    "response": "CASE WHEN conversation.inserted THEN %(answer)s::jsonb "
    "ELSE jsonb_set(%(answer)s::jsonb || jsonb_build_object("
    "'id', conversation.id, 'status', conversation.status, "
    "'agent_role_id', conversation.agent_role_id::text, "
    f"'created_at', {iso_time_sql('conversation.created_at')}), "
    "'{message,conversation_id}', to_jsonb(conversation.id)) END",
    "created_at": "%(at)s",
}


def _columns(model: type[Model], values: dict[str, str]) -> tuple[str, str]:
    """The column list and the matching value list of a raw INSERT into ``model``'s table."""
    columns = [f.column for f in model._meta.concrete_fields if f.column in values]
    return ", ".join(columns), ", ".join(values[column] for column in columns)


def _record_sql(*, keyed: bool = False) -> str:
    conversation_columns, conversation_values = _columns(Conversation, CONVERSATION_VALUES)
    message_columns, message_values = _columns(Message, MESSAGE_VALUES)
    step_columns, step_values = _columns(MessageStatusChange, STATUS_CHANGE_VALUES)
    event_columns, conversation_event_values = _columns(Event, CONVERSATION_EVENT_VALUES)
    _, message_event_values = _columns(Event, MESSAGE_EVENT_VALUES)
    # The conflict target must repeat the partial unique index's predicate exactly.
    open_statuses = ", ".join(f"'{status.value}'" for status in OPEN_CONVERSATION_STATUSES)
    conversations = Conversation._meta.db_table
    # What the webhook fan-out needs of an event; its subject is the object it describes.
    event_subject = "id, type, data->>'id' AS subject_id, created_at"
    claim = ""
    if keyed:
        key_columns, key_values = _columns(IdempotencyKey, IDEMPOTENCY_VALUES)
        claim = f"""
, claim AS (
    INSERT INTO {IdempotencyKey._meta.db_table} ({key_columns})
    SELECT {key_values} FROM conversation
)"""  # noqa: S608  (identifiers come from the model, values are parameters)
    return f"""
WITH conversation AS (
    INSERT INTO {conversations} ({conversation_columns})
    VALUES ({conversation_values})
    ON CONFLICT (channel, recipient) WHERE status IN ({open_statuses})
    DO UPDATE SET last_activity_at = EXCLUDED.last_activity_at,
                  integration_id = EXCLUDED.integration_id,
                  agent_role_id = COALESCE(%(agent_role_id)s::uuid, {conversations}.agent_role_id)
    RETURNING id, status, agent_role_id, created_at, (xmax = 0) AS inserted
), message AS (
    INSERT INTO {Message._meta.db_table} ({message_columns})
    SELECT {message_values} FROM conversation
    RETURNING id, conversation_id, agent_turn
), first_step AS (
    INSERT INTO {MessageStatusChange._meta.db_table} ({step_columns})
    SELECT {step_values} FROM message
), conversation_event AS (
    INSERT INTO {Event._meta.db_table} ({event_columns})
    SELECT {conversation_event_values} FROM conversation WHERE conversation.inserted
    RETURNING {event_subject}
), message_event AS (
    INSERT INTO {Event._meta.db_table} ({event_columns})
    SELECT {message_event_values} FROM message WHERE %(message_event_type)s::varchar IS NOT NULL
    RETURNING {event_subject}
), deliveries AS (
    {fan_out_sql("SELECT * FROM conversation_event UNION ALL SELECT * FROM message_event")}
){claim}
SELECT id, status, agent_role_id, CASE WHEN inserted THEN NULL ELSE created_at END, inserted,
       ARRAY(SELECT id FROM deliveries),
       (SELECT agent_turn FROM message)
FROM conversation
"""  # noqa: S608  (identifiers and literals come from the models, values are parameters)


_RECORD_SQL = _record_sql()
_MESSAGE_CONVERSATION = Message._meta.get_field("conversation")
# The same, also claiming an Idempotency-Key: a key already used fails it as a whole.
_RECORD_KEYED_SQL = _record_sql(keyed=True)


def _record_message(
    *,
    channel: str,
    recipient: str,
    integration_id: str,
    agent_role_id: str | None,
    default_agent_role_id: str | None,
    direction: str,
    status: str,
    content: MessageContent,
    provider_message_id: str = "",
    in_reply_to: str | None = None,
    claim: Claim | None = None,
    before_sql: Callable[[], object] = lambda: None,
) -> Message:
    """Record one message on the open conversation for (channel, recipient), opened if needed.

    An explicit agent role replaces the conversation's; a new conversation otherwise takes
    the tenant's default. Concurrent callers meet on ``one_open_conversation_per_recipient``.
    Raises ``conversation.created`` for a new conversation and, for inbound messages,
    ``conversation.message.received``. Returns the message with its conversation.
    """
    now = timezone.now()
    outbound = direction == MessageDirection.OUTBOUND
    conversation = build(
        Conversation,
        id=new_id("sess"),
        channel=channel,
        recipient=recipient,
        status=ConversationStatus.ACTIVE,
        integration_id=integration_id,
        agent_role_id=agent_role_id or default_agent_role_id,
        created_at=now,
        last_activity_at=now,
    )
    message = build(
        Message,
        id=new_id("msg"),
        conversation_id=conversation.id,  # replaced by the one the statement joins
        direction=direction,
        channel=channel,
        recipient=recipient,
        integration_id=integration_id,
        status=status,
        text=content.text,
        media_url=content.media_url,
        media_type=content.media_type,
        template=content.template,
        provider_template=content.provider_template,
        details=content.details,
        provider_message_id=provider_message_id,
        in_reply_to_id=in_reply_to,
        next_attempt_at=now if outbound else None,
        dispatched_at=None,
        created_at=now,
        updated_at=now,
    )
    message_event = None if outbound else EventType.MESSAGE_RECEIVED
    _MESSAGE_CONVERSATION.set_cached_value(message, conversation)
    params = {
        "conversation_id": conversation.id,
        "message_id": message.id,
        "channel": channel,
        "recipient": recipient,
        "integration_id": integration_id,
        "agent_role_id": agent_role_id,
        "new_agent_role_id": conversation.agent_role_id,
        "direction": str(direction),  # a plain str: psycopg finds its dumper at once
        "status": str(status),
        "text": content.text,
        "media_url": content.media_url,
        "media_type": content.media_type,
        "template": json.dumps(content.template) if content.template is not None else None,
        "provider_template": (
            json.dumps(content.provider_template) if content.provider_template is not None else None
        ),
        "details": json.dumps(content.details) if content.details is not None else None,
        "provider_message_id": provider_message_id,
        "in_reply_to_id": in_reply_to,
        "next_attempt_at": message.next_attempt_at,
        "at": now,
        "conversation_status": ConversationStatus.ACTIVE.value,
        "conversation_event_id": new_id("evt"),
        "conversation_event_type": EventType.CONVERSATION_CREATED.value,
        "conversation_data": json.dumps(conversation_payload(conversation)),
        "message_event_id": new_id("evt") if message_event else None,
        "message_event_type": message_event and message_event.value,
        "message_data": json.dumps(message_payload(message)) if message_event else None,
    }
    answer = None
    if claim is not None:
        answer = claim.render(message)
        params["idempotency_key"] = claim.key
        params["request_hash"] = claim.request_hash
        params["answer"] = json.dumps(answer)
    # One statement is atomic on its own; inside a caller's transaction, a savepoint keeps
    # a failed statement from aborting it.
    # Prepared once per connection: PostgreSQL does not parse and plan it again per send.
    before_sql()
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    with guard, prepared_cursor() as cursor:
        try:
            cursor.execute(_RECORD_SQL if claim is None else _RECORD_KEYED_SQL, params)
        except IntegrityError as exc:
            if claim is not None and _is_key_taken(exc):
                raise KeyTaken(claim.key) from exc
            raise
        conversation_id, conversation_status, role_id, created_at, _, deliveries, agent_turn = (
            cursor.fetchone()
        )
        if connection.in_atomic_block:
            # Foreign keys are checked at commit (Django makes them deferrable): inside a
            # caller's transaction, check them now, so that a removed integration or agent
            # role fails here, in the savepoint, and not at the caller's COMMIT.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    dispatch_new_deliveries(deliveries)
    conversation.id = conversation_id
    conversation.status = conversation_status
    conversation.agent_role_id = role_id
    if created_at is not None:  # the statement returns it only for a conversation it joined
        conversation.created_at = created_at
    conversation._state.adding = False
    if claim is not None and answer is not None:  # both or neither
        # What the statement stored: the answer rendered above, with the fields of the
        # conversation the message joined (as `IDEMPOTENCY_VALUES` writes them).
        answer.update(
            id=conversation_id,
            status=conversation_status,
            agent_role_id=str(role_id) if role_id else None,
            created_at=iso_time(conversation.created_at),
        )
        answer["message"]["conversation_id"] = conversation_id
        claim.answer = answer
    message.agent_turn = agent_turn
    # The conversation's ID, and the conversation itself cached again (setting the ID drops
    # it): what `message.conversation = conversation` does, without its checks and routers.
    message.conversation_id = conversation_id
    _MESSAGE_CONVERSATION.set_cached_value(message, conversation)
    message._state.adding = False
    return message


def _is_key_taken(error: IntegrityError) -> bool:
    """Whether ``error`` is the Idempotency-Key's row already existing (its primary key)."""
    cause = error.__cause__
    return (
        isinstance(cause, psycopg.errors.UniqueViolation)
        and cause.diag.table_name == IdempotencyKey._meta.db_table
    )
