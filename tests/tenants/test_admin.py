"""Support admin: tenants get a schema and a key, keys are minted and shown once, never blank."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client

from tenants import keys
from tenants.admin import ApiKeyInline
from tenants.models import ApiKey, Tenant
from tests.conftest import TenantFixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    user = get_user_model().objects.create_superuser("support@example.com", password="x")
    client = Client()
    client.force_login(user)
    return client


def _messages(answer: Any) -> list[str]:
    return [str(message) for message in get_messages(answer.wsgi_request)]


def _schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name])
        return cursor.fetchone() is not None


def test_a_tenant_added_in_admin_gets_its_schema_and_a_key_shown_once(staff: Client) -> None:
    # when
    answer = staff.post(
        "/admin/tenants/tenant/add/",
        {"name": "Added by support", "plan": "starter", "rate_limit": "", "default_language": "en"},
        follow=True,
    )

    # then: no error page; the tenant is whole; its key is shown once and works
    assert answer.status_code == 200
    tenant = Tenant.objects.get(name="Added by support")
    assert tenant.public_id.startswith("ten_") and _schema_exists(tenant.schema_name)
    shown = [m for m in _messages(answer) if "egk_" in m]
    assert len(shown) == 1
    raw_key = next(word for word in shown[0].split() if word.startswith("egk_"))
    assert ApiKey.objects.filter(tenant=tenant, key_hash=keys.hash_key(raw_key)).exists()


def test_admin_cannot_create_a_key_row_without_a_key(staff: Client) -> None:
    assert staff.get("/admin/tenants/apikey/add/").status_code == 403
    before = ApiKey.objects.count()
    answer = staff.post("/admin/tenants/apikey/add/", {"name": "blank", "prefix": "x"})
    assert answer.status_code == 403
    assert ApiKey.objects.count() == before


def test_a_tenants_page_offers_no_blank_key_rows(staff: Client, tenant_a: TenantFixture) -> None:
    page = staff.get(f"/admin/tenants/tenant/{tenant_a.tenant.pk}/change/")
    assert page.status_code == 200
    assert b'name="api_keys-TOTAL_FORMS" value="1"' in page.content  # the existing key only
    request = page.wsgi_request
    inline = ApiKeyInline(Tenant, admin.site)
    assert not inline.has_add_permission(request, tenant_a.tenant)
    assert not inline.has_delete_permission(request, tenant_a.tenant)


def test_staff_mint_a_key_that_is_shown_once_and_authenticates(
    staff: Client, tenant_a: TenantFixture
) -> None:
    answer = staff.post(
        "/admin/tenants/tenant/",
        {"action": "mint_api_key", "_selected_action": [tenant_a.tenant.pk]},
        follow=True,
    )
    assert answer.status_code == 200
    shown = [m for m in _messages(answer) if "egk_" in m]
    assert len(shown) == 1 and "not be shown again" in shown[0]
    raw_key = next(word for word in shown[0].split() if word.startswith("egk_"))
    listed = Client().get(
        "/api/v1/messages",
        HTTP_AUTHORIZATION=f"Bearer {raw_key}",
        HTTP_X_TENANT_ID=tenant_a.id,
    )
    assert listed.status_code == 200


def test_staff_revoke_a_key_through_the_service(staff: Client, tenant_a: TenantFixture) -> None:
    key = ApiKey.objects.get(tenant=tenant_a.tenant, key_hash=keys.hash_key(tenant_a.api_key))
    answer = staff.post(
        "/admin/tenants/apikey/",
        {"action": "revoke", "_selected_action": [key.pk]},
        follow=True,
    )
    assert answer.status_code == 200
    key.refresh_from_db()
    assert key.revoked_at is not None
    refused = Client().get("/api/v1/messages", **tenant_a.headers())
    assert refused.status_code == 401


def test_support_reads_a_tenants_provider_log_in_admin(
    staff: Client, tenant_a: TenantFixture
) -> None:
    from integrations.models import ProviderLogEntry

    with tenant_a.schema():
        ProviderLogEntry.objects.create(
            message_id="msg_0000000000000000000000abcd",
            provider="twilio",
            method="POST",
            url="https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
            request_body="To=%2B15550102999&Body=Hi",
            status_code=201,
            response_body='{"sid": "SM1"}',
        )
    connection.set_schema_to_public()

    # without a chosen tenant: sent to choose one
    first = staff.get("/admin/integrations/providerlogentry/")
    assert first.status_code == 302 and first["Location"].endswith("/admin/tenants/tenant/")

    # when: support picks the tenant with the action
    chosen = staff.post(
        "/admin/tenants/tenant/",
        {"action": "read_provider_log", "_selected_action": [tenant_a.tenant.pk]},
    )
    assert chosen.status_code == 302

    # then: its log is listed, read-only
    page = staff.get("/admin/integrations/providerlogentry/", {"q": "abcd"})
    assert page.status_code == 200
    assert b"msg_0000000000000000000000abcd" in page.content
    assert staff.get("/admin/integrations/providercallback/").status_code == 200
    assert connection.schema_name == "public"
