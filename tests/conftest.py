"""Shared fixtures: two committed tenants (A and B) with sandbox integrations, and an API client.

The tenants are created once per session, right after the test database, and committed,
so that every test (rolled back at its end) and every real process of the e2e stack sees
them. Tests that need other tenants create them inside their own transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django_tenants.utils import schema_context

from engium.cache import hot_cache
from integrations.models import Channel
from integrations.services import connect_integration
from tenants.models import Plan, Tenant
from tenants.services import create_tenant


@dataclass
class TenantFixture:
    tenant: Tenant
    api_key: str
    integrations: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.tenant.public_id

    def headers(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.api_key}", "HTTP_X_TENANT_ID": self.id}

    def schema(self) -> AbstractContextManager[None]:
        """Run ORM code in this tenant's schema."""
        return schema_context(self.tenant.schema_name)


def make_tenant(
    name: str, *, plan: str = Plan.PRO, channels: tuple[str, ...] = tuple(Channel.values)
) -> TenantFixture:
    tenant, issued = create_tenant(name=name, plan=plan)
    fixture = TenantFixture(tenant=tenant, api_key=issued.raw_key)
    with fixture.schema():
        for channel in channels:
            fixture.integrations[channel] = connect_integration(
                channel=channel, provider="sandbox", config={}, name=f"{channel} sandbox"
            ).id
    connection.set_schema_to_public()
    return fixture


_SESSION_TENANTS: dict[str, TenantFixture] = {}


def test_database_url() -> str:
    """A DATABASE_URL for the test database, for processes the tests start."""
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{quote(str(db['PASSWORD']), safe='')}" if db.get("PASSWORD") else ""
    socket_dir = db.get("OPTIONS", {}).get("host") or (
        db["HOST"] if str(db.get("HOST", "")).startswith("/") else ""
    )
    if socket_dir:
        return f"postgres://{user}{password}@/{db['NAME']}?host={quote(socket_dir, safe='/')}"
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


test_database_url.__test__ = False  # type: ignore[attr-defined]  # not a test


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        _SESSION_TENANTS["a"] = make_tenant("Tenant A")
        _SESSION_TENANTS["b"] = make_tenant("Tenant B")
    yield


@pytest.fixture(scope="session", autouse=True)
def _media_storage_outside_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # Tests that store media (uploads in any API test) never write into `.engium/media`.
    root = tmp_path_factory.mktemp("media")
    storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(root), "base_url": None},
    }
    with override_settings(STORAGES={**settings.STORAGES, "media": storage}):
        yield


@pytest.fixture(autouse=True)
def _fresh_cache_and_schema() -> Iterator[None]:
    # Redis is not rolled back with the test's transaction: start every test with an empty
    # cache. Only our keys go (a shared Redis database may hold the broker's queues too).
    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    keys = list(client.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*", count=1000))
    if keys:
        client.delete(*keys)
    hot_cache.clear_local()
    yield
    connection.set_schema_to_public()


@pytest.fixture
def tenant_a(db: None) -> TenantFixture:
    return _SESSION_TENANTS["a"]


@pytest.fixture
def tenant_b(db: None) -> TenantFixture:
    return _SESSION_TENANTS["b"]


class ApiClient:
    """Django's test client speaking JSON to /api/v1 as a tenant."""

    def __init__(self) -> None:
        self.client = Client()

    def request(
        self,
        method: str,
        path: str,
        *,
        tenant: TenantFixture | None = None,
        json_body: Any = None,
        raw: str | bytes | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        extra = dict(tenant.headers()) if tenant else {}
        extra.update(headers or {})
        url = path if path.startswith("/") else f"/api/v1/{path}"
        if method == "get":
            return self.client.get(url, data=query or {}, **extra)
        body = raw if raw is not None else (json.dumps(json_body) if json_body is not None else "")
        return getattr(self.client, method)(url, data=body, content_type=content_type, **extra)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("get", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("post", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("patch", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("delete", path, **kwargs)

    def send(self, tenant: TenantFixture, **body: Any) -> Any:
        payload = {
            "recipient": "+15550102999",
            "channel": "whatsapp",
            "message": {"text": "Hello from Engium! How can we help you today?"},
        }
        payload.update(body)
        return self.post("conversations/send", tenant=tenant, json_body=payload)


@pytest.fixture
def api() -> ApiClient:
    return ApiClient()


def error_of(response: Any) -> dict[str, Any]:
    """The ``error`` object of a JSON error answer (asserting the documented shape)."""
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    return body["error"]
