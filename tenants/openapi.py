"""OpenAPI documentation of the API keys API: the answers of `render_api_key` and
`render_new_api_key`.

Documentation only: the renderers in `tenants.serializers` stay the runtime path. Every
field here mirrors a key they write (checked by `tests/engium/test_openapi.py`).
"""

from __future__ import annotations

from rest_framework import serializers

from engium.api.openapi import id_path_parameter, page_serializer


class ApiKeySerializer(serializers.Serializer):
    """One of the tenant's API keys. The key itself is shown once only, when it is created."""

    id = serializers.CharField(help_text="`key_…`")
    name = serializers.CharField(help_text="What the key is for, e.g. `CI pipeline`.")
    prefix = serializers.CharField(
        help_text="The key's first 12 characters (`egk_` and 8 more), to recognise it by."
    )
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the key last authenticated a request, to the minute; null if never.",
    )
    revoked_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When the key was revoked; null while it is valid. A revoked key stays listed.",
    )


class NewApiKeySerializer(ApiKeySerializer):
    """A key just created, with the key itself: store it now, it is never shown again."""

    key = serializers.CharField(
        help_text="The API key (`egk_…`), for `Authorization: Bearer <key>`. Shown this once."
    )


ApiKeyPageSerializer = page_serializer("ApiKeyPage", ApiKeySerializer)

API_KEY_ID = id_path_parameter("key_id", "key", "API key")
