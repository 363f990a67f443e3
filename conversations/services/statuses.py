"""The one function through which a message's status changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone

from conversations.models import Message, MessageStatusChange
from conversations.payloads import message_payload
from conversations.status import EVENT_FOR_STATUS, PENDING_DELIVERY, can_move
from engium.postgresql import update_rows
from webhooks.services import raise_event, raise_events


def change_message_status(
    message: Message,
    status: str,
    *,
    at: datetime | None = None,
    error_code: str = "",
    error_message: str = "",
    also_save: Sequence[str] = (),
) -> bool:
    """Move ``message`` to ``status`` if the state machine allows it; False if not (no change).

    Records the step in the status history and raises the matching webhook event. The caller
    holds the message's row lock inside a transaction (`select_for_update`). ``also_save``
    names fields the caller changed on ``message``: they go in the same UPDATE (when the
    move is refused, nothing is saved and saving them is the caller's).
    """
    if not can_move(message.status, status):
        return False
    now = timezone.now()
    message.status = status
    message.updated_at = now
    fields = ["status", "updated_at", *also_save]
    if error_code or error_message:
        message.error_code, message.error_message = error_code[:64], error_message
        fields += ["error_code", "error_message"]
    if status not in PENDING_DELIVERY:  # nothing left to deliver
        message.next_attempt_at = None
        fields.append("next_attempt_at")
    message.save(update_fields=list(dict.fromkeys(fields)))
    MessageStatusChange.objects.create(
        message=message,
        status=status,
        occurred_at=at or now,
        error_code=error_code[:64],
        error_message=error_message,
    )
    event_type = EVENT_FOR_STATUS.get(status)  # type: ignore[call-overload]
    if event_type is not None:
        raise_event(event_type, message_payload(message))
    return True


def change_statuses(
    messages: Sequence[Message],
    status: str,
    *,
    at: datetime | None = None,
    also_save: Sequence[str] = (),
) -> list[Message]:
    """`change_message_status` for many messages at once, in three statements: one UPDATE
    (the moves, and the ``also_save`` fields of every message, moved or not), one INSERT of
    their history, one of their events. The caller holds their row locks. Returns the
    messages moved (those the state machine allows)."""
    if not messages:
        return []
    now = timezone.now()
    moved = [message for message in messages if can_move(message.status, status)]
    fields = list(also_save)
    if moved:
        fields += ["status", "updated_at"]
        if status not in PENDING_DELIVERY:  # nothing left to deliver
            fields.append("next_attempt_at")
    for message in moved:
        message.status, message.updated_at = status, now
        if status not in PENDING_DELIVERY:
            message.next_attempt_at = None
    if fields:
        update_rows(messages, list(dict.fromkeys(fields)))
    if moved:
        MessageStatusChange.objects.bulk_create(
            MessageStatusChange(message=message, status=status, occurred_at=at or now)
            for message in moved
        )
        event_type = EVENT_FOR_STATUS.get(status)  # type: ignore[call-overload]
        if event_type is not None:
            raise_events(event_type, [message_payload(message) for message in moved])
    return moved
