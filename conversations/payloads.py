"""The public shape of conversations and messages: one definition for API answers and events.

`message_payload` is a message as the API answers it (without its status history) and as
webhook events carry it in ``data``; `conversation_payload` likewise. The API's renderers
(`conversations.serializers`) add only what a list or detail needs on top, and the OpenAPI
documentation (`conversations.openapi`) is checked key for key against these by tests.
"""

from __future__ import annotations

from typing import Any

from conversations.models import Conversation, Message
from engium.timestamps import iso_time
from media.signing import refresh_media_url


def conversation_payload(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "status": conversation.status,
        "channel": conversation.channel,
        "recipient": conversation.recipient,
        "agent_role_id": str(conversation.agent_role_id) if conversation.agent_role_id else None,
        "integration_id": conversation.integration_id,
        "created_at": iso_time(conversation.created_at),
        "last_activity_at": iso_time(conversation.last_activity_at),
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
        # Our own media URLs are signed afresh on every rendering (media.signing).
        "media_url": refresh_media_url(message.media_url) if message.media_url else None,
        "media_type": message.media_type or None,
        "template": message.template,
        "details": message.details,
        "error_code": message.error_code or None,
        "error_message": message.error_message or None,
        "attempts": message.attempts,
        "created_at": iso_time(message.created_at),
        "updated_at": iso_time(message.updated_at),
    }
