"""API shapes for integrations."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from engium.api.pagination import ListQuerySerializer
from engium.api.serializers import StrictBooleanField, StrictCharField, StrictSerializer
from engium.timestamps import iso_time
from integrations.models import Channel, Integration, IntegrationStatus
from integrations.providers.registry import UnknownProvider, get_provider
from integrations.selectors import callback_urls


class ProviderField(StrictCharField):
    """A provider's slug. The service refuses one not in ``settings.ENGIUM_PROVIDERS``; the
    schema lists them (`integrations.openapi.ProviderFieldScheme`), read when it is made.
    Taken as given (untrimmed): `" sandbox"` is not a provider."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(trim_whitespace=False, **kwargs)


class IntegrationCreateSerializer(StrictSerializer):
    channel = serializers.ChoiceField(choices=Channel.values)
    provider = ProviderField(max_length=32)
    config = serializers.DictField(required=False, default=dict)
    name = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    is_default = StrictBooleanField(required=False, allow_null=True, default=None)


class IntegrationUpdateSerializer(StrictSerializer):
    config = serializers.DictField(required=False)
    name = StrictCharField(max_length=200, required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=IntegrationStatus.values, required=False)
    is_default = StrictBooleanField(required=False)


class IntegrationListQuery(ListQuerySerializer):
    id_prefix = "intg"
    channel = serializers.ChoiceField(choices=Channel.values, required=False)
    status = serializers.ChoiceField(choices=IntegrationStatus.values, required=False)


def render_integration(integration: Integration) -> dict[str, Any]:
    try:
        provider = get_provider(integration.provider)
    except UnknownProvider:  # its module was removed from ENGIUM_PROVIDERS: show, don't break
        config: dict[str, Any] = {}
        secrets: list[str] = sorted(integration.config)
    else:
        config = provider.public_config(integration.config)
        secrets = sorted(k for k in integration.config if k in provider.secret_fields)
    return {
        "id": integration.id,
        "channel": integration.channel,
        "provider": integration.provider,
        "name": integration.name,
        "status": integration.status,
        "is_default": integration.is_default,
        "config": config,
        "secrets_set": secrets,
        "verification": integration.verification,
        "verification_detail": integration.verification_detail or None,
        "verified_at": iso_time(integration.verified_at),
        "callback_urls": callback_urls(integration),
        "created_at": iso_time(integration.created_at),
        "updated_at": iso_time(integration.updated_at),
    }
