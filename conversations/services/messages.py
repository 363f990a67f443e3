"""Sending and receiving messages."""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from agents.models import AgentRole
from conversations.dispatcher import submit_delivery
from conversations.models import (
    Conversation,
    ConversationStatus,
    Message,
    MessageDirection,
    MessageStatus,
)
from conversations.payloads import conversation_payload, message_payload
from conversations.recipients import normalize_recipient
from conversations.routing import forget_routing, get_routing
from engium.api.errors import AgentRoleNotFound, ChannelNotConfigured, TemplateNotFound
from engium.ids import new_id
from engium.tenancy import current_schema
from integrations.models import Integration
from integrations.providers.base import InboundMessage
from webhooks.models import EventType


@dataclass(frozen=True)
class MessageContent:
    """What a message says: text, media (with optional caption) or a template reference."""

    text: str = ""
    media_url: str = ""
    media_type: str = ""
    template: dict[str, Any] | None = None


def send_message(
    *,
    recipient: str,
    channel: str,
    content: MessageContent,
    agent_role_id: str | None = None,
) -> Message:
    """Queue an outbound message in the current tenant; returns it with its conversation.

    The message joins the recipient's open conversation on the channel or opens one. The
    message row and its delivery request (``next_attempt_at``) are recorded in one
    statement; the task is enqueued after that (`conversations.dispatcher`), and if the
    broker is down then, the outbox sweep enqueues it later: an accepted message is
    never lost.
    """
    recipient = normalize_recipient(recipient)
    if agent_role_id is not None and not AgentRole.objects.filter(pk=agent_role_id).exists():
        raise AgentRoleNotFound(field="agent_role_id")
    if content.template is not None:
        raise TemplateNotFound(field="message.template.id")

    # The routing comes from the cache; if a foreign key fails, it named an integration or
    # agent role removed meanwhile: read it afresh and try once more.
    for fresh in (False, True):
        routing = get_routing(refresh=fresh)
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
            )
            break
        except IntegrityError as exc:
            forget_routing()
            if fresh:
                if agent_role_id is not None:
                    raise AgentRoleNotFound(field="agent_role_id") from exc
                raise ChannelNotConfigured(field="channel") from exc
    schema = current_schema()
    transaction.on_commit(lambda: submit_delivery(schema, message.id))
    return message


def receive_message(integration: Integration, inbound: InboundMessage) -> Message:
    """Store a message a recipient wrote, on their open conversation (opening one if needed)."""
    sender = normalize_recipient(inbound.sender, field="from")
    return _record_message(
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
        ),
        provider_message_id=inbound.provider_message_id or "",
    )


# One statement records a message: it joins (or opens) the conversation, inserts the message
# and its first status step, and raises the events, atomically and in one round trip (no
# BEGIN/COMMIT), because this is the send endpoint's whole cost in the database.
_RECORD_SQL = """
WITH conversation AS (
    INSERT INTO conversations_conversation
        (id, channel, recipient, status, integration_id, agent_role_id,
         created_at, last_activity_at)
    VALUES (%(conversation_id)s, %(channel)s, %(recipient)s, 'active', %(integration_id)s,
            %(new_agent_role_id)s::uuid, %(at)s, %(at)s)
    ON CONFLICT (channel, recipient) WHERE status IN ('active', 'pending_human')
    DO UPDATE SET last_activity_at = EXCLUDED.last_activity_at,
                  integration_id = EXCLUDED.integration_id,
                  agent_role_id = COALESCE(%(agent_role_id)s::uuid,
                                           conversations_conversation.agent_role_id)
    RETURNING id, status, agent_role_id, created_at, (xmax = 0) AS inserted
), message AS (
    INSERT INTO conversations_message
        (id, conversation_id, direction, channel, recipient, integration_id, status, text,
         media_url, media_type, template, provider_message_id, error_code, error_message,
         attempts, next_attempt_at, dispatched_at, created_at, updated_at)
    SELECT %(message_id)s, conversation.id, %(direction)s, %(channel)s, %(recipient)s,
           %(integration_id)s, %(status)s, %(text)s, %(media_url)s, %(media_type)s,
           %(template)s::jsonb, %(provider_message_id)s, '', '', 0, %(next_attempt_at)s,
           %(next_attempt_at)s, %(at)s, %(at)s
    FROM conversation
    RETURNING id, conversation_id
), first_step AS (
    INSERT INTO conversations_messagestatuschange
        (message_id, status, occurred_at, error_code, error_message)
    SELECT message.id, %(status)s, %(at)s, '', '' FROM message
), conversation_event AS (
    INSERT INTO webhooks_event (id, type, data, created_at)
    SELECT %(conversation_event_id)s, 'conversation.created', %(conversation_data)s::jsonb, %(at)s
    FROM conversation WHERE conversation.inserted
), message_event AS (
    INSERT INTO webhooks_event (id, type, data, created_at)
    SELECT %(message_event_id)s, %(message_event_type)s,
           jsonb_set(%(message_data)s::jsonb, '{conversation_id}',
                     to_jsonb(message.conversation_id)),
           %(at)s
    FROM message WHERE %(message_event_type)s IS NOT NULL
)
SELECT id, status, agent_role_id, created_at, inserted FROM conversation
"""


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
) -> Message:
    """Record one message on the open conversation for (channel, recipient), opened if needed.

    An explicit agent role replaces the conversation's; a new conversation otherwise takes
    the tenant's default. Concurrent callers meet on ``one_open_conversation_per_recipient``.
    Raises ``conversation.created`` for a new conversation and, for inbound messages,
    ``conversation.message.received``. Returns the message with its conversation.
    """
    now = timezone.now()
    outbound = direction == MessageDirection.OUTBOUND
    conversation = Conversation(
        id=new_id("sess"),
        channel=channel,
        recipient=recipient,
        status=ConversationStatus.ACTIVE,
        integration_id=integration_id,
        agent_role_id=agent_role_id or default_agent_role_id,
        created_at=now,
        last_activity_at=now,
    )
    message = Message(
        id=new_id("msg"),
        direction=direction,
        channel=channel,
        recipient=recipient,
        integration_id=integration_id,
        status=status,
        text=content.text,
        media_url=content.media_url,
        media_type=content.media_type,
        template=content.template,
        provider_message_id=provider_message_id,
        next_attempt_at=now if outbound else None,
        dispatched_at=now if outbound else None,
        created_at=now,
        updated_at=now,
    )
    message_event = None if outbound else EventType.MESSAGE_RECEIVED
    # One statement is atomic on its own; inside a caller's transaction, a savepoint keeps
    # a failed statement from aborting it.
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    with guard, connection.cursor() as cursor:
        cursor.execute(
            _RECORD_SQL,
            {
                "conversation_id": conversation.id,
                "message_id": message.id,
                "channel": channel,
                "recipient": recipient,
                "integration_id": integration_id,
                "agent_role_id": agent_role_id,
                "new_agent_role_id": conversation.agent_role_id,
                "direction": direction,
                "status": status,
                "text": content.text,
                "media_url": content.media_url,
                "media_type": content.media_type,
                "template": json.dumps(content.template) if content.template is not None else None,
                "provider_message_id": provider_message_id,
                "next_attempt_at": message.next_attempt_at,
                "at": now,
                "conversation_event_id": new_id("evt"),
                "conversation_data": json.dumps(conversation_payload(conversation)),
                "message_event_id": new_id("evt"),
                "message_event_type": message_event and message_event.value,
                "message_data": json.dumps(message_payload(message)) if message_event else None,
            },
        )
        conversation_id, conversation_status, role_id, created_at, _ = cursor.fetchone()
    conversation.id = conversation_id
    conversation.status = conversation_status
    conversation.agent_role_id = role_id
    conversation.created_at = created_at
    conversation._state.adding = False
    message.conversation = conversation
    message._state.adding = False
    return message
