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
