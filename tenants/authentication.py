"""Who is calling the API: the tenant from `X-Tenant-ID` and the key from `Authorization`.

One cache entry per (tenant ID, key hash) pair, ``auth:<tenant ID>:<key hash>``, holds the
verdict of one SQL statement: the tenant, if the key is one of its unrevoked keys; nothing
otherwise. It is read through `engium.cache.hot_cache` (a per-process memo, else one Redis
round trip), so a warm request runs no SQL to authenticate.

**Bound on staleness.** Each entry carries the wall-clock time at which its statement was
sent, and is trusted for `AUTH_CACHE_SECONDS` (2 s) from then on, wherever it is found: in
this process's memo or in Redis (which also expires it after that long). So a change made
behind the ORM's back (`QuerySet.update()`, raw SQL, another program), which no signal
sees, is honoured by every process at most 2 s after it commits (given host clocks that
agree; a host whose clock lags can add at most its memo's lifetime,
``ENGIUM_LOCAL_CACHE_SECONDS``). Changes made through the ORM (`tenants.services`, admin)
also drop the entries at once (`tenants.signals`). The price: each (tenant, key) pair in
use costs one indexed SELECT every 2 s or so, from whichever process finds its entry stale;
requests in between cost nothing.

**No tenant enumeration.** Every failure is the same 401, and costs the same work: the
entry belongs to the pair, so live traffic never warms a caller's failing pair; an unknown
tenant, a wrong or revoked key and another tenant's key all cost one cache read, one
SELECT (the same statement, whose result is empty) and one cache write with the same
lifetime, and leave the same verdict in the cache. A suspended tenant is a 403, and only
to a caller holding one of its valid keys.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from engium.cache import hot_cache
from engium.exceptions import AuthenticationFailed, TenantSuspended
from tenants import keys
from tenants.models import TENANT_ID_PATTERN, ApiKey, Tenant

#: How long a verdict read from the database is trusted (see the module's docstring).
AUTH_CACHE_SECONDS = 2
_LAST_USED_EVERY_SECONDS = 60.0
# The wall clock: entries are shared between processes and hosts, so not `time.monotonic`.
_clock = time.time


@dataclass(frozen=True)
class ApiPrincipal:
    """The authenticated caller of an API request (DRF's ``request.user``)."""

    tenant: Tenant
    api_key_id: str
    is_authenticated: bool = True

    @property
    def pk(self) -> str:
        return self.api_key_id


def auth_cache_key(public_id: str, key_hash: str) -> str:
    """The cache entry of one (tenant ID, key hash) pair."""
    return f"auth:{public_id}:{key_hash}"


# (read at, the tenant or None, the key's ID or None): a failure holds (t, None, None),
# whichever way it failed.
_Verdict = tuple[float, Tenant | None, str | None]


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
    cache_key = auth_cache_key(public_id, key_hash)
    verdict: _Verdict | None = hot_cache.get(cache_key)
    if verdict is None or not _fresh(verdict):
        verdict = _read_verdict(public_id, key_hash)
        hot_cache.set(cache_key, verdict, AUTH_CACHE_SECONDS)

    _, tenant, key_id = verdict
    if tenant is None or key_id is None:
        raise AuthenticationFailed()
    if not tenant.is_active:
        raise TenantSuspended()
    _touch_last_used(key_id)
    return ApiPrincipal(tenant=tenant, api_key_id=key_id)


def _fresh(verdict: Any) -> bool:
    # Anything else (an entry of an older layout) is simply read again.
    return (
        isinstance(verdict, tuple)
        and len(verdict) == 3
        and isinstance(verdict[0], float)
        # A stamp from a host whose clock runs ahead is trusted too: Redis still drops the
        # entry after AUTH_CACHE_SECONDS, and the memo after ENGIUM_LOCAL_CACHE_SECONDS.
        and _clock() - verdict[0] < AUTH_CACHE_SECONDS
    )


def _read_verdict(public_id: str, key_hash: str) -> _Verdict:
    """One statement, whose result is empty for every failure: the key is looked up by its
    hash and must be an unrevoked key of the tenant named by the header."""
    read_at = _clock()  # before the read: the entry cannot outlive a change it missed
    found = list(
        ApiKey.objects.select_related("tenant")
        .only("id", "tenant")
        .filter(key_hash=key_hash, tenant__public_id=public_id, revoked_at__isnull=True)
        .order_by()[:1]
    )
    if not found:
        return (read_at, None, None)
    return (read_at, found[0].tenant, found[0].pk)


_last_used_lock = threading.Lock()
_last_used_written: dict[str, float] = {}


def _touch_last_used(key_id: str) -> None:
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
