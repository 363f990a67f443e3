"""Keep the authentication cache true: drop entries when tenants or keys change."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from engium.cache import hot_cache
from tenants.authentication import api_key_cache_key, tenant_cache_key
from tenants.models import ApiKey, Tenant


def _forget(key: str) -> None:
    hot_cache.delete(key)
    # Also after commit: a reader may have cached the old row while the write was open.
    transaction.on_commit(lambda: hot_cache.delete(key))


@receiver([post_save, post_delete], sender=Tenant)
def forget_tenant(sender: Any, instance: Tenant, **kwargs: Any) -> None:
    _forget(tenant_cache_key(instance.public_id))


@receiver([post_save, post_delete], sender=ApiKey)
def forget_api_key(sender: Any, instance: ApiKey, **kwargs: Any) -> None:
    _forget(api_key_cache_key(instance.key_hash))
