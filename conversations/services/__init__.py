"""Writes on conversations and messages. Views, tasks and callbacks call these, nothing else."""

from conversations.services.callbacks import (
    PROCESS_CALLBACK,
    accept_callback,
    apply_due_sandbox_reports,
    process_callback,
    receive_callback,
    redispatch_pending_callbacks,
)
from conversations.services.conversations import close_conversation, close_idle_conversations
from conversations.services.delivery import (
    APPLY_STATUS_REPORT,
    DELIVER_MESSAGE,
    DELIVER_MESSAGES,
    DISPATCH_MESSAGES,
    apply_status_report,
    deliver_message,
    mark_undispatched,
)
from conversations.services.dispatch import deliver_messages, dispatch_messages
from conversations.services.messages import MessageContent, receive_message, send_message
from conversations.services.statuses import change_message_status

__all__ = [
    "APPLY_STATUS_REPORT",
    "DELIVER_MESSAGE",
    "DELIVER_MESSAGES",
    "DISPATCH_MESSAGES",
    "PROCESS_CALLBACK",
    "MessageContent",
    "accept_callback",
    "apply_due_sandbox_reports",
    "apply_status_report",
    "change_message_status",
    "close_conversation",
    "close_idle_conversations",
    "deliver_message",
    "deliver_messages",
    "dispatch_messages",
    "mark_undispatched",
    "process_callback",
    "receive_callback",
    "receive_message",
    "redispatch_pending_callbacks",
    "send_message",
]
