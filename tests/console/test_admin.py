"""Support admin: staff pick a tenant and read its data; superusers manage tenants."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from engium.tenancy import current_schema
from tests.builders import create_integration, create_message
from tests.conftest import TenantFixture

pytestmark = pytest.mark.django_db

TWILIO_SID = "AC" + "1" * 32


def _staff(*, superuser: bool = False) -> Client:
    model = get_user_model()
    if superuser:
        user = model.objects.create_superuser("root@example.com", password="x")
    else:
        user = model.objects.create_user("support@example.com", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def _pick(client: Client, tenant: TenantFixture) -> None:
    answer = client.post(
        "/admin/tenants/tenant/",
        {"action": "read_provider_log", "_selected_action": [str(tenant.tenant.pk)]},
    )
    assert answer.status_code == 302, answer.content


def test_staff_browse_a_picked_tenants_conversations_and_messages(
    tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    staff = _staff()
    mine = create_message(tenant_a, recipient="+15550108001")
    theirs = create_message(tenant_b, recipient="+15550108002")

    # without a tenant: sent to pick one
    first = staff.get("/admin/conversations/conversation/")
    assert first.status_code == 302 and first["Location"] == "/admin/tenants/tenant/"

    _pick(staff, tenant_a)
    listed = staff.get("/admin/conversations/conversation/")
    assert listed.status_code == 200
    assert mine.conversation_id.encode() in listed.content
    assert theirs.conversation_id.encode() not in listed.content
    searched = staff.get("/admin/conversations/message/", {"q": "+15550108001", "status": "queued"})
    assert mine.id.encode() in searched.content

    detail = staff.get(f"/admin/conversations/message/{mine.id}/change/")
    assert detail.status_code == 200
    assert b"Status history" in detail.content and b"Provider log" in detail.content
    # read only: no save button, and a POST changes nothing
    assert b'name="_save"' not in detail.content
    assert staff.post(f"/admin/conversations/message/{mine.id}/change/", {}).status_code == 403


def test_integrations_in_admin_never_show_secrets(tenant_a: TenantFixture) -> None:
    integration = create_integration(
        tenant_a,
        "sms",
        "twilio",
        name="Admin twilio",
        account_sid=TWILIO_SID,
        auth_token="admin-hidden-token",
        from_number="+15550100002",
    )
    staff = _staff()
    _pick(staff, tenant_a)
    page = staff.get(f"/admin/integrations/integration/{integration.id}/change/")
    assert page.status_code == 200
    assert b"admin-hidden-token" not in page.content and TWILIO_SID.encode() in page.content
    assert current_schema() == "public"  # the admin switched back


def test_only_superusers_change_tenants(tenant_a: TenantFixture) -> None:
    url = f"/admin/tenants/tenant/{tenant_a.tenant.pk}/change/"
    staff = _staff()
    assert staff.get(url).status_code == 200
    assert staff.post(url, {"name": "Renamed", "plan": "free"}).status_code == 403
    root = _staff(superuser=True)
    page = root.get(url)
    assert b'name="rate_limit"' in page.content and b'name="is_active"' in page.content


def test_the_admin_is_for_staff_only(tenant_a: TenantFixture) -> None:
    user = get_user_model().objects.create_user("member@example.com", password="x")
    client = Client()
    client.force_login(user)
    answer = client.get("/admin/conversations/conversation/")
    assert answer.status_code == 302 and "/admin/login/" in answer["Location"]
