"""Writes on conversations and messages. Views, tasks and callbacks call these, nothing else."""

from conversations.services.callbacks import receive_callback
from conversations.services.conversations import close_conversation, close_idle_conversations
from conversations.services.delivery import (
    APPLY_STATUS_REPORT,
    DELIVER_MESSAGE,
    DELIVER_MESSAGES,
    apply_status_report,
    deliver_message,
    dispatch_delivery,
    mark_undispatched,
    redispatch_overdue_messages,
)
from conversations.services.messages import MessageContent, receive_message, send_message
from conversations.services.statuses import change_message_status

__all__ = [
    "APPLY_STATUS_REPORT",
    "DELIVER_MESSAGE",
    "DELIVER_MESSAGES",
    "MessageContent",
    "apply_status_report",
    "change_message_status",
    "close_conversation",
    "close_idle_conversations",
    "deliver_message",
    "dispatch_delivery",
    "mark_undispatched",
    "receive_callback",
    "receive_message",
    "redispatch_overdue_messages",
    "send_message",
]
