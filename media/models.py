"""Media files of a tenant (uploaded, or fetched from a provider for an inbound message).

The bytes live in the ``media`` storage (`STORAGES["media"]`: the file system under
``ENGIUM_MEDIA_ROOT``, or an S3-compatible bucket), under a path that starts with the
tenant's ID; the row holds what was detected from the content.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from engium.ids import new_id


class MediaType(models.TextChoices):
    IMAGE = "image", "Image"
    AUDIO = "audio", "Audio"
    VIDEO = "video", "Video"
    DOCUMENT = "document", "Document"


class MediaOrigin(models.TextChoices):
    UPLOAD = "upload", "Upload"  # POST /api/v1/media
    INBOUND = "inbound", "Inbound"  # fetched from a provider for an inbound message


def new_media_id() -> str:
    return new_id("med")


class MediaFile(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_media_id, editable=False)
    #: the file's name in the media storage: ``{tenant ID}/{yyyy}/{mm}/{media ID}.{ext}``
    storage_path = models.CharField(max_length=512, unique=True)
    original_name = models.CharField(max_length=255, blank=True)
    #: detected from the content (magic bytes), never taken from the client
    content_type = models.CharField(max_length=128)
    media_type = models.CharField(max_length=16, choices=MediaType.choices)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    origin = models.CharField(max_length=16, choices=MediaOrigin.choices)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(size__gte=0), name="media_size_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.media_type} {self.original_name or self.id}"


class FetchState(models.TextChoices):
    """pending → done, or failed (kept for support; the message keeps the provider's reference)."""

    PENDING = "pending", "Pending"  # to fetch (again) at next_attempt_at
    DONE = "done", "Done"  # stored; the message's media_url is ours
    FAILED = "failed", "Failed"  # given up: refused type or size, or the provider said no


class MediaFetch(models.Model):
    """An inbound message's media to fetch from its provider: its own outbox row.

    Written in the transaction that stores the inbound message; a task fetches it, and the
    beat sweep publishes again the ones whose task was lost or whose fetch is due for a retry.
    """

    message_id = models.CharField(max_length=40, db_index=True)
    integration_id = models.CharField(max_length=40)
    #: what the provider gave: Twilio's media URL, or WhatsApp Cloud's media ID
    reference = models.TextField()
    declared_type = models.CharField(max_length=128, blank=True)
    state = models.CharField(max_length=16, choices=FetchState.choices, default=FetchState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    media = models.ForeignKey(MediaFile, null=True, blank=True, on_delete=models.SET_NULL)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="media_fetch_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"media of {self.message_id} ({self.state})"
