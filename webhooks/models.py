"""Events: the record of everything a webhook endpoint may be told about.

Each event is written in the same transaction as the change it describes, so an event
exists exactly when its change committed. Endpoints and their deliveries fan out from
these rows (the webhooks capability builds on this table).
"""

from __future__ import annotations

from django.db import models

from engium.ids import new_id


class EventType(models.TextChoices):
    CONVERSATION_CREATED = "conversation.created"
    CONVERSATION_CLOSED = "conversation.closed"
    MESSAGE_SENT = "conversation.message.sent"
    MESSAGE_DELIVERED = "conversation.message.delivered"
    MESSAGE_READ = "conversation.message.read"
    MESSAGE_FAILED = "conversation.message.failed"
    MESSAGE_RECEIVED = "conversation.message.received"


def new_event_id() -> str:
    return new_id("evt")


class Event(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_event_id, editable=False)
    type = models.CharField(max_length=64, choices=EventType.choices)
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"
