"""Sending and receiving messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from agents.models import AgentRole
from conversations.models import (
    Conversation,
    ConversationStatus,
    Message,
    MessageDirection,
    MessageStatus,
    MessageStatusChange,
)
from conversations.payloads import conversation_payload, message_payload
from conversations.recipients import normalize_recipient
from conversations.routing import forget_routing, get_routing
from conversations.services.delivery import dispatch_delivery
from engium.api.errors import AgentRoleNotFound, ChannelNotConfigured, TemplateNotFound
from engium.ids import new_id
from engium.tenancy import current_schema
from integrations.models import Integration
from integrations.providers.base import InboundMessage
from webhooks.models import EventType
from webhooks.services import raise_event


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
    message row and its delivery request (``next_attempt_at``) commit in one transaction;
    the task is enqueued after commit, and if the broker is down then, the outbox sweep
    enqueues it later: an accepted message is never lost.
    """
    recipient = normalize_recipient(recipient)
    routing = get_routing()
    integration_id = routing.integrations.get(channel)
    if integration_id is None:
        raise ChannelNotConfigured(
            f"No active {channel} integration: connect one in Settings → Integrations.",
            field="channel",
        )
    if agent_role_id is not None and not AgentRole.objects.filter(pk=agent_role_id).exists():
        raise AgentRoleNotFound(field="agent_role_id")
    if content.template is not None:
        raise TemplateNotFound(field="message.template.id")

    now = timezone.now()
    try:
        with transaction.atomic():
            conversation, created = _join_conversation(
                channel=channel,
                recipient=recipient,
                integration_id=integration_id,
                agent_role_id=agent_role_id,
                default_agent_role_id=routing.default_agent_role_id,
                at=now,
            )
            message = _create_message(
                conversation,
                direction=MessageDirection.OUTBOUND,
                status=MessageStatus.QUEUED,
                integration_id=integration_id,
                content=content,
                at=now,
                next_attempt_at=now,
            )
            if created:
                raise_event(EventType.CONVERSATION_CREATED, conversation_payload(conversation))
    except IntegrityError as exc:
        # The cached routing named an integration that was removed meanwhile.
        forget_routing()
        raise ChannelNotConfigured(field="channel") from exc
    schema = current_schema()
    transaction.on_commit(lambda: dispatch_delivery(schema, message.id))
    return message


def receive_message(integration: Integration, inbound: InboundMessage) -> Message:
    """Store a message a recipient wrote, on their open conversation (opening one if needed)."""
    sender = normalize_recipient(inbound.sender, field="from")
    routing = get_routing()
    now = timezone.now()
    with transaction.atomic():
        conversation, created = _join_conversation(
            channel=integration.channel,
            recipient=sender,
            integration_id=integration.id,
            agent_role_id=None,
            default_agent_role_id=routing.default_agent_role_id,
            at=now,
        )
        if created:
            raise_event(EventType.CONVERSATION_CREATED, conversation_payload(conversation))
        message = _create_message(
            conversation,
            direction=MessageDirection.INBOUND,
            status=MessageStatus.RECEIVED,
            integration_id=integration.id,
            content=MessageContent(
                text=inbound.text,
                media_url=inbound.media_url or "",
                media_type=inbound.media_type or "",
            ),
            at=now,
            next_attempt_at=None,
            provider_message_id=inbound.provider_message_id or "",
        )
        raise_event(EventType.MESSAGE_RECEIVED, message_payload(message))
    return message


_JOIN_SQL = """
INSERT INTO conversations_conversation
    (id, channel, recipient, status, integration_id, agent_role_id, created_at, last_activity_at)
VALUES (%(id)s, %(channel)s, %(recipient)s, 'active', %(integration_id)s,
        COALESCE(%(agent_role_id)s, %(default_agent_role_id)s)::uuid, %(at)s, %(at)s)
ON CONFLICT (channel, recipient) WHERE status IN ('active', 'pending_human')
DO UPDATE SET last_activity_at = EXCLUDED.last_activity_at,
              integration_id = EXCLUDED.integration_id,
              agent_role_id = COALESCE(%(agent_role_id)s::uuid,
                                       conversations_conversation.agent_role_id)
RETURNING id, status, agent_role_id, created_at, (xmax = 0) AS inserted
"""


def _join_conversation(
    *,
    channel: str,
    recipient: str,
    integration_id: str,
    agent_role_id: str | None,
    default_agent_role_id: str | None,
    at: datetime,
) -> tuple[Conversation, bool]:
    """The open conversation for (channel, recipient), opened if there is none: one statement.

    An explicit agent role replaces the conversation's; otherwise a new conversation takes
    the tenant's default. Concurrent callers meet on ``one_open_conversation_per_recipient``.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _JOIN_SQL,
            {
                "id": new_id("sess"),
                "channel": channel,
                "recipient": recipient,
                "integration_id": integration_id,
                "agent_role_id": agent_role_id,
                "default_agent_role_id": default_agent_role_id,
                "at": at,
            },
        )
        conversation_id, status, role_id, created_at, inserted = cursor.fetchone()
    conversation = Conversation(
        id=conversation_id,
        channel=channel,
        recipient=recipient,
        status=status or ConversationStatus.ACTIVE,
        integration_id=integration_id,
        agent_role_id=role_id,
        created_at=created_at,
        last_activity_at=at,
    )
    conversation._state.adding = False
    return conversation, inserted


def _create_message(
    conversation: Conversation,
    *,
    direction: str,
    status: str,
    integration_id: str,
    content: MessageContent,
    at: datetime,
    next_attempt_at: datetime | None,
    provider_message_id: str = "",
) -> Message:
    message = Message.objects.create(
        conversation=conversation,
        direction=direction,
        channel=conversation.channel,
        recipient=conversation.recipient,
        integration_id=integration_id,
        status=status,
        text=content.text,
        media_url=content.media_url,
        media_type=content.media_type,
        template=content.template,
        provider_message_id=provider_message_id,
        next_attempt_at=next_attempt_at,
        dispatched_at=next_attempt_at,
        created_at=at,
        updated_at=at,
    )
    MessageStatusChange.objects.create(message=message, status=status, occurred_at=at)
    return message
