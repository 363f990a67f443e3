"""OpenAPI documentation of the integrations API: the answer of `render_integration`.

Documentation only: `integrations.serializers.render_integration` stays the runtime path.
Every field here mirrors a key it writes (checked by `tests/engium/test_openapi.py`).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from engium.api.openapi import id_path_parameter, page_serializer
from integrations.models import Channel, IntegrationStatus, Verification
from integrations.providers.registry import provider_slugs


class ProviderFieldScheme(OpenApiSerializerFieldExtension):
    """`provider` on a create: one of the configured providers' slugs."""

    target_class = "integrations.serializers.ProviderField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {
            "type": "string",
            "enum": provider_slugs(),
            "description": "The provider; which channels it serves is its own to say.",
        }


class IntegrationSerializer(serializers.Serializer):
    """A channel connected to a provider. Secrets are never shown, only their names."""

    id = serializers.CharField(help_text="`intg_…`")
    channel = serializers.ChoiceField(choices=Channel.values)
    provider = serializers.CharField(help_text="e.g. `sandbox`.")
    name = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=IntegrationStatus.values)
    is_default = serializers.BooleanField(help_text="Whether sends on its channel use it.")
    config = serializers.DictField(help_text="The provider's configuration, without secrets.")
    secrets_set = serializers.ListField(
        child=serializers.CharField(), help_text="Names of the secret settings that are set."
    )
    verification = serializers.ChoiceField(
        choices=Verification.values,
        help_text=(
            "The last connection test's verdict (`POST /integrations/{id}/test`); a config "
            "change makes it `unverified` again. Independent of `status`."
        ),
    )
    verification_detail = serializers.CharField(
        allow_null=True, help_text="What the provider said when last tested."
    )
    verified_at = serializers.DateTimeField(allow_null=True, help_text="When last tested.")
    callback_urls = serializers.DictField(
        child=serializers.URLField(),
        help_text="Where the provider sends status reports and inbound messages, by purpose.",
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


IntegrationPageSerializer = page_serializer("IntegrationPage", IntegrationSerializer)

INTEGRATION_ID = id_path_parameter("integration_id", "intg", "integration")
