"""`TenantHeaderMiddleware` outside the API: requests run in `public`, with no `SET` to spare."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from engium.tenancy import use_tenant
from tenants.middleware import TenantHeaderMiddleware
from tests.conftest import TenantFixture

pytestmark = pytest.mark.django_db


def test_a_public_request_leaves_a_tenants_schema_and_then_keeps_public(
    tenant_a: TenantFixture,
) -> None:
    schemas: list[str] = []

    def view(request: HttpRequest) -> HttpResponse:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_schema()")
            schemas.append(cursor.fetchone()[0])
        return HttpResponse()

    middleware = TenantHeaderMiddleware(view)
    request = RequestFactory().get("/console/")

    # given: the persistent connection last served a tenant's API request
    use_tenant(tenant_a.tenant)
    # when: a request outside the API comes, then another
    middleware(request)
    with tempfile.NamedTemporaryFile() as trace:
        pgconn = connection.connection.pgconn
        pgconn.trace(trace.fileno())
        middleware(request)
        pgconn.untrace()
        sent = Path(trace.name).read_text(errors="replace")

    # then: both ran in public, and the second set no search_path (the connection was there)
    assert schemas == ["public", "public"]
    assert "current_schema" in sent
    assert "search_path" not in sent
