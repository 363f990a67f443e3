"""OpenAPI documentation of the media API: the answer of `render_media` and the upload form.

Documentation only: `media.serializers.render_media` stays the runtime path.
"""

from __future__ import annotations

from rest_framework import serializers

from engium.api.openapi import id_path_parameter, page_serializer
from media.models import MediaOrigin, MediaType


class MediaSerializer(serializers.Serializer):
    """A stored media file and a signed URL that serves it without an API key."""

    id = serializers.CharField(help_text="`med_…`")
    media_url = serializers.URLField(
        help_text=(
            "A signed URL on the deployment's public address: anyone holding it (a provider) "
            "can fetch the file until `expires_at`. Send it as `message.media_url`."
        )
    )
    expires_at = serializers.DateTimeField(help_text="Until when `media_url` works.")
    media_type = serializers.ChoiceField(choices=MediaType.values)
    content_type = serializers.CharField(help_text="Detected from the content, e.g. `image/png`.")
    size = serializers.IntegerField(help_text="In bytes.")
    sha256 = serializers.CharField(help_text="Hex SHA-256 of the content.")
    original_name = serializers.CharField(allow_blank=True, help_text="The uploaded file's name.")
    origin = serializers.ChoiceField(
        choices=MediaOrigin.values,
        help_text="`upload` (this API) or `inbound` (fetched from a provider).",
    )
    created_at = serializers.DateTimeField()


MediaPageSerializer = page_serializer("MediaPage", MediaSerializer)

MEDIA_ID = id_path_parameter("media_id", "med", "media file")
