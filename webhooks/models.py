"""Events, the endpoints that subscribe to them, and the deliveries of one to the other.

Each event is written in the same transaction (or statement) as the change it describes,
with one `Delivery` row per enabled endpoint subscribed to its type: an event exists, and
is owed to its endpoints, exactly when its change committed. A delivery row is its own
outbox entry (``next_attempt_at``, ``dispatched_at``), as messages are
(docs/architecture.md#webhook-delivery).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from engium.encryption import EncryptedJSONField
from engium.ids import new_id


class EventType(models.TextChoices):
    CONVERSATION_CREATED = "conversation.created"
    CONVERSATION_CLOSED = "conversation.closed"
    MESSAGE_SENT = "conversation.message.sent"
    MESSAGE_DELIVERED = "conversation.message.delivered"
    MESSAGE_READ = "conversation.message.read"
    MESSAGE_FAILED = "conversation.message.failed"
    MESSAGE_RECEIVED = "conversation.message.received"
    HANDOFF = "conversation.handoff"
    #: Sent only to the endpoint it was asked for (`POST /webhooks/{id}/test`).
    WEBHOOK_TEST = "webhook.test"


#: What an endpoint may subscribe to; "*" is every one of them.
SUBSCRIBABLE_EVENTS = tuple(t.value for t in EventType if t != EventType.WEBHOOK_TEST)
ALL_EVENTS = "*"


def new_event_id() -> str:
    return new_id("evt")


def new_endpoint_id() -> str:
    return new_id("whep")


class Event(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_event_id, editable=False)
    type = models.CharField(max_length=64, choices=EventType.choices)
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class Endpoint(models.Model):
    """Where a tenant wants events: a URL, the event types, and the signing secrets."""

    id = models.CharField(primary_key=True, max_length=40, default=new_endpoint_id, editable=False)
    url = models.CharField(max_length=2000)
    # A JSON array (jsonb) so the fan-out can test membership with `?` in SQL.
    events = models.JSONField(default=list)
    description = models.CharField(max_length=500, blank=True, default="")
    enabled = models.BooleanField(default=True)
    # {"current": "whsec_…", "previous": "whsec_…" | None, "previous_until": ISO time | None}
    secrets = EncryptedJSONField()
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    # Set by the first failed attempt after a success; cleared by any success.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.id} {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Delivery(models.Model):
    """One event owed to one endpoint. Its public ID is the event's (unique per endpoint)."""

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    # The message or conversation the event is about: an endpoint gets one subject's events
    # in order (empty: no ordering, e.g. test events).
    subject_id = models.CharField(max_length=40, blank=True, default="")
    status = models.CharField(
        max_length=16,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
        db_default=DeliveryStatus.PENDING,
    )
    attempts = models.PositiveIntegerField(default=0, db_default=0)
    # Outbox: when an attempt is next due (NULL: nothing due), when a task for it was last
    # enqueued (NULL: publish failed or a retry waits for the sweep), and the claim's lease.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-event_id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="one_delivery_per_endpoint")
        ]
        indexes = [
            # The sweep's query: due deliveries only.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(next_attempt_at__isnull=False),
                name="delivery_due",
            ),
            # Ordering per subject, and the per-endpoint in-flight cap.
            models.Index(
                fields=["endpoint", "subject_id", "id"],
                condition=Q(status="pending"),
                name="delivery_pending_by_subject",
            ),
            models.Index(fields=["updated_at"], name="delivery_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id}"


class Attempt(models.Model):
    """One HTTP attempt of a delivery, successful or not; kept 90 days."""

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(db_index=True)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response = models.TextField(blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.status_code or self.error}"
