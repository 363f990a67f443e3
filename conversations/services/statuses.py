"""The one function through which a message's status changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone

from conversations.models import Message, MessageStatusChange
from conversations.payloads import message_payload
from conversations.status import EVENT_FOR_STATUS, PENDING_DELIVERY, can_move
from webhooks.services import raise_event


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
