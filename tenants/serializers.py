"""API shapes for a tenant's API keys."""

from __future__ import annotations

from typing import Any

from engium.api.pagination import ListQuerySerializer
from engium.api.serializers import StrictCharField, StrictSerializer
from engium.timestamps import iso_time
from tenants.models import ApiKey
from tenants.services import IssuedKey


class ApiKeyCreateSerializer(StrictSerializer):
    name = StrictCharField(max_length=100)


class ApiKeyListQuery(ListQuerySerializer):
    id_prefix = "key"


def render_api_key(api_key: ApiKey) -> dict[str, Any]:
    """A key as the API shows it: never the key itself, nor its hash."""
    return {
        "id": api_key.pk,
        "name": api_key.name,
        "prefix": api_key.prefix,
        "created_at": iso_time(api_key.created_at),
        "last_used_at": iso_time(api_key.last_used_at),
        "revoked_at": iso_time(api_key.revoked_at),
    }


def render_new_api_key(issued: IssuedKey) -> dict[str, Any]:
    """A key just created: the only answer that holds the key."""
    return {**render_api_key(issued.api_key), "key": issued.raw_key}
