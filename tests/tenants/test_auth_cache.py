"""The authentication cache: what it may hide, for how long, and what it may reveal.

* Rows changed behind the ORM's back (`QuerySet.update()`, raw SQL) escape the signals that
  drop cached entries; they must still be refused within the documented bound.
* Every failure costs the same work, so a caller cannot tell by timing whether a tenant
  exists: counted here as cache operations (with their lifetimes) and SQL statements.

The contract: docs/api.md#authentication; the design: docs/architecture.md#the-hot-cache.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from engium.cache import hot_cache
from tenants import authentication
from tenants.models import ApiKey, Tenant
from tenants.services import create_api_key, revoke_api_key
from tests.conftest import ApiClient, TenantFixture, error_of

#: How long a change made behind the cache may go unseen (docs/api.md#authentication).
BOUND_SECONDS = 2.0


def auth(key: str, tenant_id: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}", "HTTP_X_TENANT_ID": tenant_id}


@pytest.fixture
def advance(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Move authentication's wall clock forward (the per-process memo keeps its own clock)."""
    offset = [0.0]
    monkeypatch.setattr(authentication, "_clock", lambda: time.time() + offset[0], raising=False)

    def forward(seconds: float) -> None:
        offset[0] += seconds

    return forward


def new_key(tenant: TenantFixture, name: str) -> tuple[ApiKey, dict[str, str]]:
    issued = create_api_key(Tenant.objects.get(pk=tenant.tenant.pk), name=name)
    return issued.api_key, auth(issued.raw_key, tenant.id)


def status_of(api: ApiClient, headers: dict[str, str]) -> int:
    return int(api.get("conversations", headers=headers).status_code)


# ------------------------------------------------------------------ changes behind the cache


def _revoke_by_update(key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())


def _revoke_by_sql(key: ApiKey) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE tenants_apikey SET revoked_at = now() WHERE id = %s", [key.pk])


def _delete_by_sql(key: ApiKey) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM tenants_apikey WHERE id = %s", [key.pk])


KEY_CHANGES: dict[str, Callable[[ApiKey], None]] = {
    "QuerySet.update": _revoke_by_update,
    "raw SQL UPDATE": _revoke_by_sql,
    "raw SQL DELETE": _delete_by_sql,
}


@pytest.mark.parametrize("memo_seconds", [1.0, 60.0], ids=lambda s: f"memo {s:g}s")
@pytest.mark.parametrize("change", list(KEY_CHANGES), ids=str)
def test_a_key_revoked_behind_the_cache_is_refused_within_the_bound(
    api: ApiClient,
    tenant_a: TenantFixture,
    advance: Callable[[float], None],
    settings: Any,
    change: str,
    memo_seconds: float,
) -> None:
    settings.ENGIUM_LOCAL_CACHE_SECONDS = memo_seconds  # the memo must not stretch the bound
    key, headers = new_key(tenant_a, "revoked behind the cache")
    assert status_of(api, headers) == 200  # cached as valid: memo and Redis

    KEY_CHANGES[change](key)
    advance(BOUND_SECONDS)

    response = api.get("conversations", headers=headers)
    assert response.status_code == 401, response.content
    assert error_of(response)["code"] == "authentication_failed"
    assert status_of(api, tenant_a.headers()) == 200  # the tenant's other keys still work


def test_a_key_revoked_behind_the_cache_is_refused_by_every_process(
    api: ApiClient, tenant_a: TenantFixture, advance: Callable[[float], None]
) -> None:
    key, headers = new_key(tenant_a, "other processes")
    assert status_of(api, headers) == 200
    _revoke_by_update(key)
    advance(BOUND_SECONDS)
    hot_cache.clear_local()  # another process: nothing in its memo, the entry in Redis
    assert status_of(api, headers) == 401


def _suspend_by_update(tenant: Tenant, active: bool) -> None:
    Tenant.objects.filter(pk=tenant.pk).update(is_active=active)


def _suspend_by_sql(tenant: Tenant, active: bool) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tenants_tenant SET is_active = %s WHERE id = %s", [active, tenant.pk]
        )


TENANT_CHANGES: dict[str, Callable[[Tenant, bool], None]] = {
    "QuerySet.update": _suspend_by_update,
    "raw SQL UPDATE": _suspend_by_sql,
}


@pytest.mark.parametrize("change", list(TENANT_CHANGES), ids=str)
def test_a_tenant_suspended_behind_the_cache_is_refused_within_the_bound(
    api: ApiClient,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    advance: Callable[[float], None],
    change: str,
) -> None:
    assert status_of(api, tenant_a.headers()) == 200
    assert status_of(api, tenant_b.headers()) == 200

    TENANT_CHANGES[change](tenant_a.tenant, False)
    advance(BOUND_SECONDS)

    response = api.get("conversations", tenant=tenant_a)
    assert response.status_code == 403, response.content
    assert error_of(response)["code"] == "tenant_suspended"
    assert status_of(api, tenant_b.headers()) == 200  # other tenants are untouched

    TENANT_CHANGES[change](tenant_a.tenant, True)
    advance(BOUND_SECONDS)
    assert status_of(api, tenant_a.headers()) == 200  # and reactivation is seen as well


def test_auth_entries_live_in_redis_no_longer_than_the_bound(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    assert status_of(api, tenant_a.headers()) == 200
    assert status_of(api, auth(tenant_b.api_key, tenant_a.id)) == 401
    assert status_of(api, auth("egk_" + secrets.token_urlsafe(30), "ten_" + "0" * 26)) == 401

    client = cache._cache.get_client()  # type: ignore[attr-defined]
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    entries = list(client.scan_iter(match=f"{prefix}:*auth:*", count=1000))
    assert entries
    for entry in entries:
        assert 0 < client.pttl(entry) <= BOUND_SECONDS * 1000, entry


def test_a_warm_request_still_runs_no_sql_on_the_auth_tables(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    assert status_of(api, tenant_a.headers()) == 200
    with CaptureQueriesContext(connection) as warm:
        assert status_of(api, tenant_a.headers()) == 200
    assert warm.captured_queries
    assert not [q for q in warm.captured_queries if "tenants_" in q["sql"]]


def test_a_revoked_key_stays_refused_after_the_bound(
    api: ApiClient, tenant_a: TenantFixture, advance: Callable[[float], None]
) -> None:
    key, headers = new_key(tenant_a, "revoked through the service")
    assert status_of(api, headers) == 200
    revoke_api_key(key)
    assert status_of(api, headers) == 401
    advance(BOUND_SECONDS * 3)
    hot_cache.clear_local()
    assert status_of(api, headers) == 401


# ------------------------------------------------------------------ no tenant enumeration


class CacheSpy:
    """Records each call to the shared cache: its method, how many keys, and any lifetime."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[tuple[Any, ...]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.real, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(_describe(name, args, kwargs))
            return method(*args, **kwargs)

        return call


def _describe(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    first = args[0] if args else None
    keys = len(first) if isinstance(first, list | dict) else 1
    timeout = kwargs.get("timeout", args[2] if name == "set" and len(args) > 2 else None)
    if name == "set_many":
        timeout = kwargs.get("timeout", args[1] if len(args) > 1 else None)
    return (name, keys, timeout)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[CacheSpy]:
    import engium.cache

    recorder = CacheSpy(engium.cache.cache)
    monkeypatch.setattr(engium.cache, "cache", recorder)
    yield recorder


FAILURES: dict[str, Callable[[TenantFixture, TenantFixture, str], dict[str, str]]] = {
    "unknown tenant, random key": lambda a, b, revoked: auth(
        "egk_" + secrets.token_urlsafe(30), "ten_" + secrets.choice("abc") + "0" * 25
    ),
    "unknown tenant, a valid key": lambda a, b, revoked: auth(a.api_key, "ten_" + "1" * 26),
    "known tenant, wrong key": lambda a, b, revoked: auth("egk_" + secrets.token_urlsafe(30), a.id),
    "known tenant, key of another tenant": lambda a, b, revoked: auth(b.api_key, a.id),
    "known tenant, its revoked key": lambda a, b, revoked: auth(revoked, a.id),
}


def test_every_failure_costs_the_same_work(
    api: ApiClient,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    spy: CacheSpy,
    advance: Callable[[float], None],
) -> None:
    issued = create_api_key(Tenant.objects.get(pk=tenant_a.tenant.pk), name="revoked")
    revoke_api_key(issued.api_key)

    def probe(headers: dict[str, str]) -> tuple[Any, ...]:
        spy.calls.clear()
        with CaptureQueriesContext(connection) as queries:
            response = api.get("conversations", headers=headers)
        return (
            response.status_code,
            response.content,
            tuple(spy.calls),
            len(queries.captured_queries),
        )

    traces: dict[str, list[tuple[Any, ...]]] = {}
    for case, make in FAILURES.items():
        # Live traffic keeps the tenants' own entries warm, as in production.
        for tenant in (tenant_a, tenant_b):
            assert api.get("conversations", tenant=tenant).status_code == 200
        headers = make(tenant_a, tenant_b, issued.raw_key)
        first = probe(headers)  # nothing cached for this caller yet
        again = probe(headers)  # at once: from this process's memo
        advance(BOUND_SECONDS)
        hot_cache.clear_local()
        later = probe(headers)  # after the entries' lifetime, in a fresh process
        traces[case] = [first, again, later]

    reference = traces["known tenant, wrong key"]
    assert reference[0][0] == 401 and reference[0][3] >= 1, reference  # it did look
    for case, trace in traces.items():
        assert trace == reference, case
