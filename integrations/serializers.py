"""API shapes for integrations."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from integrations.models import Channel, Integration, IntegrationStatus
from integrations.providers.registry import get_provider


class IntegrationCreateSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.values)
    provider = serializers.CharField(max_length=32)
    config = serializers.DictField(required=False, default=dict)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    is_default = serializers.BooleanField(required=False, allow_null=True, default=None)


class IntegrationUpdateSerializer(serializers.Serializer):
    config = serializers.DictField(required=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=IntegrationStatus.values, required=False)
    is_default = serializers.BooleanField(required=False)


def render_integration(integration: Integration) -> dict[str, Any]:
    provider = get_provider(integration.provider)
    return {
        "id": integration.id,
        "channel": integration.channel,
        "provider": integration.provider,
        "name": integration.name,
        "status": integration.status,
        "is_default": integration.is_default,
        "config": provider.public_config(integration.config),
        "secrets_set": sorted(k for k in integration.config if k in provider.secret_fields),
        "callback_urls": provider.callback_urls(
            base_url=settings.ENGIUM_PUBLIC_URL, integration_id=integration.id
        ),
        "created_at": integration.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": integration.updated_at.isoformat().replace("+00:00", "Z"),
    }
