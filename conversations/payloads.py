"""Event payloads (the ``data`` of webhook events) for conversations and messages."""

from __future__ import annotations

from typing import Any

from conversations.models import Conversation, Message
from engium.api.serializers import iso_time


def conversation_payload(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "status": conversation.status,
        "channel": conversation.channel,
        "recipient": conversation.recipient,
        "agent_role_id": str(conversation.agent_role_id) if conversation.agent_role_id else None,
        "created_at": iso_time(conversation.created_at),
        "closed_at": iso_time(conversation.closed_at),
    }


def message_payload(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "direction": message.direction,
        "channel": message.channel,
        "recipient": message.recipient,
        "status": message.status,
        "text": message.text,
        "media_url": message.media_url or None,
        "media_type": message.media_type or None,
        "error_code": message.error_code or None,
        "error_message": message.error_message or None,
        "created_at": iso_time(message.created_at),
        "updated_at": iso_time(message.updated_at),
    }
