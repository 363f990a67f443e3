"""Reads on tenants' API keys, for the API. Keys live in `public`; every read names its tenant."""

from __future__ import annotations

from django.db.models import QuerySet

from engium.exceptions import NotFound
from tenants.models import ApiKey, Tenant


def filter_api_keys(tenant: Tenant) -> QuerySet[ApiKey]:
    """The tenant's keys, revoked ones included."""
    return ApiKey.objects.filter(tenant=tenant)


def get_api_key(tenant: Tenant, key_id: str) -> ApiKey:
    """The tenant's key with this ID; `NotFound` for any other, another tenant's included."""
    api_key = filter_api_keys(tenant).filter(pk=key_id).first()
    if api_key is None:
        raise NotFound("No API key with this ID exists.")
    return api_key
