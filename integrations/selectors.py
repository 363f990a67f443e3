"""Reads on integrations."""

from __future__ import annotations

from django.conf import settings

from engium.exceptions import NotFound
from engium.tenancy import current_tenant_public_id
from integrations.models import Integration
from integrations.providers.registry import UnknownProvider, get_provider


def get_integration(integration_id: str) -> Integration:
    """The current tenant's integration with this ID; `NotFound` if there is none."""
    integration = Integration.objects.filter(pk=integration_id).first()
    if integration is None:
        raise NotFound("No integration with this ID exists.")
    return integration


def callback_root(integration_id: str) -> str:
    """Where the provider of an integration of the current tenant posts its callbacks.

    ``{ENGIUM_PUBLIC_URL}/callbacks/{tenant ID}/{integration ID}``; each kind of callback
    adds ``/{kind}``. The tenant's ID routes the request to its schema without a lookup
    table in ``public``.
    """
    base = settings.ENGIUM_PUBLIC_URL.rstrip("/")
    return f"{base}/callbacks/{current_tenant_public_id()}/{integration_id}"


def callback_urls(integration: Integration) -> dict[str, str]:
    """The integration's callback URLs by purpose; none if its provider is not installed."""
    try:
        provider = get_provider(integration.provider)
    except UnknownProvider:
        return {}
    return provider.callback_urls(
        public_url=settings.ENGIUM_PUBLIC_URL.rstrip("/"),
        callback_root=callback_root(integration.id),
        integration_id=integration.id,
    )
