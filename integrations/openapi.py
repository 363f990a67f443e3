"""OpenAPI documentation of the integrations API: the answer of `render_integration`.

Documentation only: `integrations.serializers.render_integration` stays the runtime path.
Every field here mirrors a key it writes (checked by `tests/engium/test_openapi.py`).
"""

from __future__ import annotations

from rest_framework import serializers

from engium.api.openapi import id_path_parameter, page_serializer
from integrations.models import Channel, IntegrationStatus


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
    callback_urls = serializers.DictField(
        child=serializers.URLField(),
        help_text="Where the provider sends status reports and inbound messages, by purpose.",
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


IntegrationPageSerializer = page_serializer("IntegrationPage", IntegrationSerializer)

INTEGRATION_ID = id_path_parameter("integration_id", "intg", "integration")
