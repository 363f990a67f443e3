"""Who is calling the API: the tenant from `X-Tenant-ID` and the key from `Authorization`.

Both resolve from `engium.cache.hot_cache` on the warm path (a per-process memo, else
one Redis round trip; no SQL); entries are dropped when a tenant or key changes (see
`tenants.signals`), in other processes within ``ENGIUM_LOCAL_CACHE_SECONDS``. Every
failure is the same 401, so the answer never reveals which tenants exist; a suspended
tenant is a 403, and only to a caller holding one of its valid keys.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from engium.cache import hot_cache
from engium.exceptions import AuthenticationFailed, TenantSuspended
from tenants import keys
from tenants.models import TENANT_ID_PATTERN, ApiKey, Tenant

_MISSING = "missing"
# Unknown tenants and keys are remembered briefly only: guessing must not fill the cache.
_MISSING_CACHE_SECONDS = 5
_LAST_USED_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class ApiPrincipal:
    """The authenticated caller of an API request (DRF's ``request.user``)."""

    tenant: Tenant
    api_key_id: int
    is_authenticated: bool = True

    @property
    def pk(self) -> int:
        return self.api_key_id


def tenant_cache_key(public_id: str) -> str:
    return f"auth:tenant:{public_id}"


def api_key_cache_key(key_hash: str) -> str:
    return f"auth:key:{key_hash}"


def authenticate_api_request(tenant_header: str | None, authorization: str | None) -> ApiPrincipal:
    """Resolve the caller or raise `AuthenticationFailed` / `TenantSuspended`."""
    public_id = (tenant_header or "").strip()
    scheme, _, raw_key = (authorization or "").strip().partition(" ")
    raw_key = raw_key.strip()
    if not TENANT_ID_PATTERN.match(public_id) or scheme.lower() != "bearer" or not raw_key:
        raise AuthenticationFailed()
    if not raw_key.startswith(keys.KEY_PREFIX) or len(raw_key) > 128:
        raise AuthenticationFailed()

    key_hash = keys.hash_key(raw_key)
    tenant_key, key_key = tenant_cache_key(public_id), api_key_cache_key(key_hash)
    cached = hot_cache.get_many([tenant_key, key_key])
    tenant_entry = cached.get(tenant_key)
    key_entry = cached.get(key_key)
    if tenant_entry is None:
        tenant_entry = Tenant.objects.filter(public_id=public_id).first() or _MISSING
        hot_cache.set(tenant_key, tenant_entry, _cache_seconds(tenant_entry))
    if key_entry is None:
        row = (
            ApiKey.objects.filter(key_hash=key_hash).values("id", "tenant_id", "revoked_at").first()
        )
        key_entry = (
            (row["id"], row["tenant_id"], row["revoked_at"] is not None) if row else _MISSING
        )
        hot_cache.set(key_key, key_entry, _cache_seconds(key_entry))

    if not isinstance(tenant_entry, Tenant) or not isinstance(key_entry, tuple):
        raise AuthenticationFailed()
    tenant: Tenant = tenant_entry
    key_id, key_tenant_id, revoked = key_entry
    if revoked or key_tenant_id != tenant.pk:
        raise AuthenticationFailed()
    if not tenant.is_active:
        raise TenantSuspended()
    _touch_last_used(key_id)
    return ApiPrincipal(tenant=tenant, api_key_id=key_id)


def _cache_seconds(entry: object) -> int:
    return _MISSING_CACHE_SECONDS if entry == _MISSING else settings.ENGIUM_AUTH_CACHE_SECONDS


_last_used_lock = threading.Lock()
_last_used_written: dict[int, float] = {}


def _touch_last_used(key_id: int) -> None:
    """Record the key's last use at most once a minute per process, to keep SQL off the hot path."""
    now = time.monotonic()
    with _last_used_lock:
        if (
            now - _last_used_written.get(key_id, -_LAST_USED_EVERY_SECONDS)
            < _LAST_USED_EVERY_SECONDS
        ):
            return
        _last_used_written[key_id] = now
    ApiKey.objects.filter(pk=key_id).update(last_used_at=timezone.now())


class ApiKeyAuthentication(BaseAuthentication):
    """DRF authentication over what `TenantHeaderMiddleware` resolved for this request."""

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        principal = getattr(request._request, "api_principal", None)
        if principal is None:
            raise AuthenticationFailed()
        return principal, None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
