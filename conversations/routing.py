"""Where a tenant's sends go: each channel's default integration and the default agent role.

Read on every send, so it is cached per tenant and forgotten whenever an integration or
agent role changes (`conversations.signals`).
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.models import AgentRole
from engium.cache import hot_cache
from engium.tenancy import current_schema
from integrations.models import Integration, IntegrationStatus
from integrations.providers.registry import UnknownProvider, get_provider

CACHE_SECONDS = 300


@dataclass(frozen=True)
class Routing:
    integrations: dict[str, str]  # channel → integration ID
    default_agent_role_id: str | None
    #: channels whose integration sends templates as such, approved first (WhatsApp Cloud)
    native_template_channels: frozenset[str] = frozenset()
    #: channels whose integration refuses free-form messages outside the 24-hour window
    session_window_channels: frozenset[str] = frozenset()


def _cache_key(schema_name: str) -> str:
    return f"routing:v2:{schema_name}"


def get_routing(*, refresh: bool = False) -> Routing:
    """The current tenant's routing (the connection's schema); ``refresh``: not from cache."""
    key = _cache_key(current_schema())
    routing: Routing | None = None if refresh else hot_cache.get(key)
    if routing is None:
        defaults = list(
            Integration.objects.filter(is_default=True, status=IntegrationStatus.ACTIVE)
        )
        native, windows = set(), set()
        for integration in defaults:
            try:
                provider = get_provider(integration.provider)
            except UnknownProvider:
                continue  # its sends fail at delivery (`provider_unknown`)
            if provider.sends_templates:
                native.add(integration.channel)
            if provider.enforces_session_window(integration.config):
                windows.add(integration.channel)
        role_id = AgentRole.objects.filter(is_default=True).values_list("id", flat=True).first()
        routing = Routing(
            integrations={integration.channel: integration.id for integration in defaults},
            default_agent_role_id=str(role_id) if role_id else None,
            native_template_channels=frozenset(native),
            session_window_channels=frozenset(windows),
        )
        hot_cache.set(key, routing, CACHE_SECONDS)
    return routing


def forget_routing(schema_name: str | None = None) -> None:
    hot_cache.delete(_cache_key(schema_name or current_schema()))
