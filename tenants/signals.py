"""Keep the authentication cache true: drop entries when tenants or keys change.

Only changes made through the ORM's `save()` and `delete()` are seen here; anything else
(`QuerySet.update()`, raw SQL) is caught by the entries' short lifetime instead (see
`tenants.authentication`).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from engium.cache import hot_cache
from tenants.authentication import auth_cache_key
from tenants.models import ApiKey, Tenant


def _forget(keys: list[str]) -> None:
    if not keys:
        return
    hot_cache.delete_many(keys)
    # Also after commit: a reader may have cached the old row while the write was open.
    transaction.on_commit(lambda: hot_cache.delete_many(keys))


@receiver([post_save, post_delete], sender=Tenant)
def forget_tenant(sender: Any, instance: Tenant, **kwargs: Any) -> None:
    # Only a pair of the tenant and one of its own keys can authenticate: forget those.
    hashes = ApiKey.objects.filter(tenant_id=instance.pk).values_list("key_hash", flat=True)
    _forget([auth_cache_key(instance.public_id, key_hash) for key_hash in hashes])


@receiver([post_save, post_delete], sender=ApiKey)
def forget_api_key(sender: Any, instance: ApiKey, **kwargs: Any) -> None:
    if ApiKey.tenant.is_cached(instance):
        public_id: str | None = instance.tenant.public_id
    else:
        public_id = (
            Tenant.objects.filter(pk=instance.tenant_id).values_list("public_id", flat=True).first()
        )
    if public_id is not None:
        _forget([auth_cache_key(public_id, instance.key_hash)])
