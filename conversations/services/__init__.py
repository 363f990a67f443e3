"""Writes on conversations and messages. Views, tasks and callbacks call these, nothing else."""

from conversations.services.agent_dispatch import (
    ANSWER_INBOUND,
    dispatch_agent_turn,
    mark_agent_turns_undispatched,
    redispatch_pending_agent_turns,
)
from conversations.services.agent_turns import answer_inbound, resume_agent
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
from conversations.services.dispatch import deliver_messages, dispatch_messages, sweep_messages
from conversations.services.inbound_media import (
    FETCH_INBOUND_MEDIA,
    fetch_inbound_media,
    redispatch_media_fetches,
)
from conversations.services.messages import MessageContent, receive_message, send_message
from conversations.services.sending import drain as drain_sends
from conversations.services.statuses import change_message_status

__all__ = [
    "ANSWER_INBOUND",
    "APPLY_STATUS_REPORT",
    "DELIVER_MESSAGE",
    "DELIVER_MESSAGES",
    "DISPATCH_MESSAGES",
    "FETCH_INBOUND_MEDIA",
    "PROCESS_CALLBACK",
    "MessageContent",
    "accept_callback",
    "answer_inbound",
    "apply_due_sandbox_reports",
    "apply_status_report",
    "change_message_status",
    "close_conversation",
    "close_idle_conversations",
    "deliver_message",
    "deliver_messages",
    "dispatch_agent_turn",
    "dispatch_messages",
    "drain_sends",
    "fetch_inbound_media",
    "mark_agent_turns_undispatched",
    "mark_undispatched",
    "process_callback",
    "receive_callback",
    "receive_message",
    "redispatch_media_fetches",
    "redispatch_pending_agent_turns",
    "redispatch_pending_callbacks",
    "resume_agent",
    "send_message",
    "sweep_messages",
]
