"""Reads on conversations and messages for the API (the current tenant's schema)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from conversations.models import Conversation, Message, MessageStatusChange
from conversations.recipients import normalize_recipient
from engium.exceptions import InvalidRecipient, NotFound

CONVERSATION_DETAIL_MESSAGES = 100


def _with_recipient(queryset: QuerySet[Any], value: str) -> QuerySet[Any]:
    """Rows of ``value``'s number; none if it is not a possible number (no row holds one)."""
    try:
        return queryset.filter(recipient=normalize_recipient(value))
    except InvalidRecipient:
        return queryset.none()


def filter_conversations(query: dict[str, Any]) -> QuerySet[Conversation]:
    queryset = Conversation.objects.all()
    for field in ("status", "channel"):
        if query.get(field):
            queryset = queryset.filter(**{field: query[field]})
    if query.get("recipient"):
        queryset = _with_recipient(queryset, query["recipient"])
    return queryset


def filter_messages(query: dict[str, Any]) -> QuerySet[Message]:
    queryset = Message.objects.prefetch_related(_history())
    for field in ("status", "channel", "direction", "conversation_id"):
        if query.get(field):
            queryset = queryset.filter(**{field: query[field]})
    if query.get("recipient"):
        queryset = _with_recipient(queryset, query["recipient"])
    return queryset


def get_conversation(conversation_id: str) -> tuple[Conversation, list[Message]]:
    """The conversation and its latest messages, oldest first."""
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None:
        raise NotFound("No conversation with this ID exists.")
    latest = list(
        Message.objects.filter(conversation=conversation)
        .prefetch_related(_history())
        .order_by("-pk")[:CONVERSATION_DETAIL_MESSAGES]
    )
    latest.reverse()
    return conversation, latest


def get_message(message_id: str) -> Message:
    message = Message.objects.prefetch_related(_history()).filter(pk=message_id).first()
    if message is None:
        raise NotFound("No message with this ID exists.")
    return message


def _history() -> Prefetch[Any]:
    return Prefetch("status_history", queryset=MessageStatusChange.objects.order_by("id"))
