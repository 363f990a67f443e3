"""Closing conversations, by API and by inactivity."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from conversations.models import OPEN_CONVERSATION_STATUSES, Conversation, ConversationStatus
from conversations.payloads import conversation_payload
from engium.exceptions import NotFound
from webhooks.models import EventType
from webhooks.services import raise_event


def close_conversation(conversation_id: str) -> Conversation:
    """Close an open conversation (closing a closed one changes nothing) and raise the event."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
        if conversation is None:
            raise NotFound("No conversation with this ID exists.")
        _close(conversation, at=timezone.now())
    return conversation


def close_idle_conversations(
    *, idle_seconds: int, now: datetime | None = None, limit: int = 500
) -> int:
    """Close the current tenant's conversations inactive for ``idle_seconds``; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=idle_seconds)
    with transaction.atomic():
        idle = list(
            Conversation.objects.select_for_update(skip_locked=True)
            .filter(status__in=OPEN_CONVERSATION_STATUSES, last_activity_at__lt=cutoff)
            .order_by("last_activity_at")[:limit]
        )
        for conversation in idle:
            _close(conversation, at=now)
    return len(idle)


def _close(conversation: Conversation, *, at: datetime) -> None:
    if conversation.status == ConversationStatus.CLOSED:
        return
    conversation.status = ConversationStatus.CLOSED
    conversation.closed_at = at
    conversation.save(update_fields=["status", "closed_at"])
    raise_event(EventType.CONVERSATION_CLOSED, conversation_payload(conversation))
