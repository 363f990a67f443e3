"""API shapes for media files: the upload's form, the list's filters, the answer."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from engium.api.pagination import ListQuerySerializer
from engium.api.serializers import StrictSerializer
from engium.tenancy import current_tenant_public_id
from engium.timestamps import iso_time
from integrations.models import Channel
from media import signing
from media.models import MediaFile, MediaOrigin, MediaType


@extend_schema_field({"type": "string", "format": "binary"})
class UploadedFileField(serializers.FileField):
    """A multipart file part (documented as binary: it is never answered back)."""


class MediaUploadSerializer(StrictSerializer):
    file = UploadedFileField(
        allow_empty_file=False,
        help_text=(
            "The file. Its type is detected from its content; a name or declared type that "
            "contradicts the content is refused (`media_type_mismatch`)."
        ),
    )
    channel = serializers.ChoiceField(
        choices=Channel.values,
        required=False,
        help_text="Check now that this channel takes the file (type and size).",
    )
    media_type = serializers.ChoiceField(
        choices=MediaType.values,
        required=False,
        help_text="Check now that the file is of this media type.",
    )


class MediaListQuery(ListQuerySerializer):
    id_prefix = "med"
    media_type = serializers.ChoiceField(choices=MediaType.values, required=False)
    origin = serializers.ChoiceField(choices=MediaOrigin.values, required=False)


def render_media(media: MediaFile) -> dict[str, Any]:
    """A media file, with a freshly signed URL."""
    return {
        "id": media.id,
        "media_url": signing.media_url(current_tenant_public_id(), media.id),
        "expires_at": iso_time(signing.expires_at(timezone.now())),
        "media_type": media.media_type,
        "content_type": media.content_type,
        "size": media.size,
        "sha256": media.sha256,
        "original_name": media.original_name,
        "origin": media.origin,
        "created_at": iso_time(media.created_at),
    }
