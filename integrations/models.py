"""Channel integrations: how a tenant's messages reach WhatsApp, SMS and Voice."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from engium.encryption import EncryptedJSONField
from engium.ids import new_id


class Channel(models.TextChoices):
    WHATSAPP = "whatsapp", "WhatsApp"
    SMS = "sms", "SMS"
    VOICE = "voice", "Voice"


class IntegrationStatus(models.TextChoices):
    ACTIVE = "active", "Active"  # sends and receives
    DISABLED = "disabled", "Disabled"  # kept with its history; sends nothing


class Verification(models.TextChoices):
    """The last connection test's verdict (`POST /integrations/{id}/test`), apart from status.

    ``status`` says whether the integration is used (routing); ``verification`` only says
    whether the provider accepted its credentials when last asked.
    """

    UNVERIFIED = "unverified", "Unverified"  # never tested, or changed since
    VERIFIED = "verified", "Verified"
    FAILED = "failed", "Failed"


def new_integration_id() -> str:
    return new_id("intg")


class Integration(models.Model):
    """A tenant's connection of one channel to one provider.

    The channel's *default* integration is the one sends go out through; at most one per
    channel (constraint ``one_default_integration_per_channel``).
    """

    id = models.CharField(
        primary_key=True, max_length=40, default=new_integration_id, editable=False
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    provider = models.CharField(max_length=32)
    name = models.CharField(max_length=200, blank=True)
    config = EncryptedJSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=IntegrationStatus.choices, default=IntegrationStatus.ACTIVE
    )
    is_default = models.BooleanField(default=False)
    verification = models.CharField(
        max_length=16, choices=Verification.choices, default=Verification.UNVERIFIED
    )
    verification_detail = models.TextField(blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel"],
                condition=Q(is_default=True),
                name="one_default_integration_per_channel",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} via {self.provider} ({self.id})"

    @property
    def is_active(self) -> bool:
        return self.status == IntegrationStatus.ACTIVE


class CallbackState(models.TextChoices):
    PENDING = "pending", "Pending"  # stored, not applied yet
    APPLIED = "applied", "Applied"  # its statuses and inbound messages were applied
    IGNORED = "ignored", "Ignored"  # nothing in it we act on (stored for support)
    FAILED = "failed", "Failed"  # applying it raised; see ``error``


class ProviderCallback(models.Model):
    """A verified callback from a provider, stored as received before it is applied.

    The view stores it and answers at once; `conversations.process_callback` applies it. Its
    headers are kept without the signature; bodies carry no credentials.
    """

    integration = models.ForeignKey(Integration, null=True, on_delete=models.SET_NULL)
    provider = models.CharField(max_length=32)
    kind = models.CharField(max_length=32)
    content_type = models.CharField(max_length=200, blank=True)
    #: the callback URL's query string (signed with it: Twilio's carries our message ID)
    query = models.TextField(blank=True, default="")
    headers = models.JSONField(default=dict)
    body = models.TextField(blank=True)
    state = models.CharField(
        max_length=16, choices=CallbackState.choices, default=CallbackState.PENDING
    )
    notes = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=Q(state="pending"),
                name="callback_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.kind} callback {self.pk} ({self.state})"


class ProviderLogEntry(models.Model):
    """One call to a provider about one message: request and answer, secrets redacted.

    For support staff; kept ``ENGIUM_PROVIDER_LOG_DAYS`` (30) days, purged by beat.
    """

    message_id = models.CharField(max_length=40, db_index=True)
    integration = models.ForeignKey(Integration, null=True, on_delete=models.SET_NULL)
    provider = models.CharField(max_length=32)
    method = models.CharField(max_length=8)
    url = models.TextField()
    request_body = models.TextField(blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.method} {self.url} → {self.status_code or self.error} ({self.message_id})"


class SandboxReport(models.Model):
    """A status the sandbox's simulated network will report, due at ``due_at``.

    The sandbox is the network it simulates, so its timetable is its own state: `send`
    writes these rows, and the beat sweep applies the due ones
    (`conversations.services.apply_due_sandbox_reports`). Kept in the database, they survive
    a broker outage.
    """

    provider_message_id = models.CharField(max_length=128)
    #: our ID of the message (``msg_…``), as a real provider's callback carries it
    message_id = models.CharField(max_length=64, db_index=True, blank=True, db_default="")
    status = models.CharField(max_length=16)
    due_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at", "id"]

    def __str__(self) -> str:
        return f"{self.provider_message_id} → {self.status} at {self.due_at}"
