"""The message status state machine: every allowed move, in one place.

    queued ─► sending ─► sent ─► delivered ─► read
       │         │        │
       └─────────┴────────┴─► failed | undelivered

Status only moves forward (a step may be skipped: a provider may report ``read`` without
``delivered``); ``read``, ``failed`` and ``undelivered`` are final. Inbound messages are
``received`` and never move.
"""

from __future__ import annotations

from conversations.models import MessageStatus
from webhooks.models import EventType

_PROGRESS = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
}
_FAILURES = {MessageStatus.FAILED, MessageStatus.UNDELIVERED}
_FAILABLE = {MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SENT}

FINAL_STATUSES = frozenset(
    {MessageStatus.READ, MessageStatus.FAILED, MessageStatus.UNDELIVERED, MessageStatus.RECEIVED}
)
PENDING_DELIVERY = (MessageStatus.QUEUED, MessageStatus.SENDING)

EVENT_FOR_STATUS = {
    MessageStatus.SENT: EventType.MESSAGE_SENT,
    MessageStatus.DELIVERED: EventType.MESSAGE_DELIVERED,
    MessageStatus.READ: EventType.MESSAGE_READ,
    MessageStatus.FAILED: EventType.MESSAGE_FAILED,
    MessageStatus.UNDELIVERED: EventType.MESSAGE_FAILED,
}


def can_move(current: str, new: str) -> bool:
    if current in FINAL_STATUSES or current == new:
        return False
    if new in _FAILURES:
        return current in _FAILABLE
    if new in _PROGRESS and current in _PROGRESS:
        return _PROGRESS[MessageStatus(new)] > _PROGRESS[MessageStatus(current)]
    return False
