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

CACHE_SECONDS = 300


@dataclass(frozen=True)
class Routing:
    integrations: dict[str, str]  # channel → integration ID
    default_agent_role_id: str | None


def _cache_key(schema_name: str) -> str:
    return f"routing:{schema_name}"


def get_routing(*, refresh: bool = False) -> Routing:
    """The current tenant's routing (the connection's schema); ``refresh``: not from cache."""
    key = _cache_key(current_schema())
    routing: Routing | None = None if refresh else hot_cache.get(key)
    if routing is None:
        integrations = dict(
            Integration.objects.filter(
                is_default=True, status=IntegrationStatus.ACTIVE
            ).values_list("channel", "id")
        )
        role_id = AgentRole.objects.filter(is_default=True).values_list("id", flat=True).first()
        routing = Routing(
            integrations=integrations, default_agent_role_id=str(role_id) if role_id else None
        )
        hot_cache.set(key, routing, CACHE_SECONDS)
    return routing


def forget_routing(schema_name: str | None = None) -> None:
    hot_cache.delete(_cache_key(schema_name or current_schema()))
