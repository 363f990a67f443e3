"""Conversations and their messages, with every status a message went through."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from engium.ids import new_id
from integrations.models import Channel


class ConversationStatus(models.TextChoices):
    ACTIVE = "active", "Active"  # open; sends add to it, its agent role answers
    PENDING_HUMAN = "pending_human", "Pending human"  # open, handed off: the agent stays silent
    CLOSED = "closed", "Closed"  # ended by inactivity or by API; the next send opens a new one


OPEN_CONVERSATION_STATUSES = (ConversationStatus.ACTIVE, ConversationStatus.PENDING_HUMAN)


class MessageDirection(models.TextChoices):
    OUTBOUND = "outbound", "Outbound"  # tenant → recipient
    INBOUND = "inbound", "Inbound"  # recipient → tenant


class MessageStatus(models.TextChoices):
    """queued → sending → sent → delivered → read, or failed / undelivered (see `status.py`)."""

    QUEUED = "queued", "Queued"  # accepted by the API, waiting for a delivery worker
    SENDING = "sending", "Sending"  # a worker is handing it to the provider (or retrying)
    SENT = "sent", "Sent"  # the provider accepted it
    DELIVERED = "delivered", "Delivered"  # it reached the recipient's device
    READ = "read", "Read"  # the recipient read it (WhatsApp)
    FAILED = "failed", "Failed"  # refused or given up on; error_code says why
    UNDELIVERED = "undelivered", "Undelivered"  # sent, but the carrier could not deliver it
    RECEIVED = "received", "Received"  # inbound: written by the recipient


class AgentTurn(models.TextChoices):
    """An inbound message's turn of the agent role (``""``: none is owed, e.g. outbound).

        pending ─► answered | handed_off | skipped

    Set to ``pending`` in the statement that records the message, when its conversation is
    active and has an agent role (its own or the tenant default); the row is the outbox
    entry of the task that answers it (`conversations.services.agent_turns`).
    """

    NONE = "", "None"  # no agent turn: outbound, or no agent role, or handed off already
    PENDING = "pending", "Pending"  # the agent owes an answer
    ANSWERED = "answered", "Answered"  # the reply was sent (its `in_reply_to` is this message)
    HANDED_OFF = "handed_off", "Handed off"  # a hand-off keyword: a person answers now
    SKIPPED = "skipped", "Skipped"  # closed, handed off meanwhile, no role or channel, too old


def new_conversation_id() -> str:
    return new_id("sess")


def new_message_id() -> str:
    return new_id("msg")


class Conversation(models.Model):
    """The thread between one tenant channel and one recipient.

    At most one is open per channel and recipient (``one_open_conversation_per_recipient``);
    sends and inbound messages join it, and it closes after a period of inactivity.
    """

    id = models.CharField(
        primary_key=True, max_length=40, default=new_conversation_id, editable=False
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    recipient = models.CharField(max_length=20, help_text="E.164")
    status = models.CharField(
        max_length=16, choices=ConversationStatus.choices, default=ConversationStatus.ACTIVE
    )
    integration = models.ForeignKey(
        "integrations.Integration", null=True, blank=True, on_delete=models.SET_NULL
    )
    agent_role = models.ForeignKey(
        "agents.AgentRole", null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField()
    last_activity_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "recipient"],
                condition=Q(status__in=[*OPEN_CONVERSATION_STATUSES]),
                name="one_open_conversation_per_recipient",
            ),
        ]
        indexes = [
            models.Index(
                fields=["last_activity_at"],
                condition=Q(status__in=[*OPEN_CONVERSATION_STATUSES]),
                name="conversation_open_by_activity",
            ),
            models.Index(fields=["recipient"], name="conversation_recipient"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.recipient} ({self.id})"


class Message(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_message_id, editable=False)
    # Indexed by ``message_by_conversation``, which leads with it.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    direction = models.CharField(max_length=16, choices=MessageDirection.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    recipient = models.CharField(max_length=20, help_text="The customer's number, E.164")
    integration = models.ForeignKey(
        "integrations.Integration", null=True, blank=True, on_delete=models.SET_NULL
    )
    status = models.CharField(max_length=16, choices=MessageStatus.choices)
    text = models.TextField(blank=True)
    media_url = models.URLField(max_length=2048, blank=True)
    media_type = models.CharField(max_length=16, blank=True)
    #: a template message's reference: ``{"id", "language"}`` (the language it was rendered in);
    #: ``text`` holds the rendered body
    template = models.JSONField(null=True, blank=True)
    #: what a provider with native templates (WhatsApp Cloud) is sent: ``{"name", "language",
    #: "parameters"}``, fixed at send time so that a later edit of the template changes nothing
    provider_template = models.JSONField(null=True, blank=True, db_default=None)
    # What an inbound message carries beyond text: a media reference, a location, contacts,
    # a button or list reply, a reaction (the provider's description, kept as given).
    details = models.JSONField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=128, blank=True, default="")
    # Columns the send's raw INSERT leaves out carry database defaults (db_default).
    error_code = models.CharField(max_length=64, blank=True, default="", db_default="")
    error_message = models.TextField(blank=True, default="", db_default="")
    attempts = models.PositiveIntegerField(default=0, db_default=0)
    #: an attempt was made whose outcome is not known (in flight, or its worker died, or
    #: the provider's answer was lost): before sending again, the provider is asked
    outcome_unknown = models.BooleanField(default=False, db_default=False)
    # Outbox: when delivery is next due, and when a task for it was last enqueued.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # Inbound: whether the agent role owes an answer, and when its task was last enqueued
    # (or until when a worker holds it). Outbound: the inbound message an agent answered;
    # unique, so that no inbound message is ever answered twice.
    agent_turn = models.CharField(
        max_length=16, choices=AgentTurn.choices, blank=True, default="", db_default=""
    )
    agent_dispatched_at = models.DateTimeField(null=True, blank=True)
    in_reply_to = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # the unique constraint's index serves
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["queued", "sending"]),
                name="message_pending_delivery",
            ),
            # The dispatcher counts a tenant's messages in flight on every batch: a small
            # index (at most the in-flight limit plus lost tasks), which sends never touch.
            models.Index(
                fields=["dispatched_at"],
                condition=Q(
                    status__in=["queued", "sending"],
                    next_attempt_at__isnull=False,
                    dispatched_at__isnull=False,
                ),
                name="message_in_flight",
            ),
            models.Index(fields=["conversation", "-id"], name="message_by_conversation"),
            models.Index(fields=["provider_message_id"], name="message_provider_id"),
            # WhatsApp's 24-hour window: when did this recipient last write (one index probe)?
            models.Index(
                fields=["channel", "recipient", "-created_at"],
                condition=Q(direction="inbound"),
                name="message_inbound_by_recipient",
            ),
            models.Index(
                fields=["agent_dispatched_at"],
                condition=Q(agent_turn="pending"),
                name="message_pending_agent_turn",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["in_reply_to"],
                condition=Q(in_reply_to__isnull=False),
                name="one_agent_reply_per_message",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.status} ({self.id})"


class MessageStatusChange(models.Model):
    """One step of a message's status history."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="status_history")
    status = models.CharField(max_length=16, choices=MessageStatus.choices)
    occurred_at = models.DateTimeField()
    error_code = models.CharField(max_length=64, blank=True, default="", db_default="")
    error_message = models.TextField(blank=True, default="", db_default="")

    class Meta:
        # The order the changes happened in; a provider's clock may lag ours.
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.message_id} → {self.status}"


class IdempotencyKey(models.Model):
    """A send made with an ``Idempotency-Key``, kept 24 h (docs/api.md#idempotency).

    The row is written, with the answer, by the send's one statement: a request with the
    same key waits on the key until that statement commits, then answers the stored answer
    (same body) or, for a different body, ``409 idempotency_conflict``.
    """

    key = models.CharField(primary_key=True, max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the canonical body.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.key
