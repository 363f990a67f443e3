"""The console's gate: login, tenant choice, and the roles enforced on every page and POST."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from conversations.models import Conversation
from integrations.models import Integration
from tenants.models import ApiKey, Membership, Role
from tenants.services import add_member
from tests.conftest import TenantFixture
from tests.console.conftest import PASSWORD
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db

PAGES = [
    "/console/",
    "/console/conversations/",
    "/console/settings/integrations/",
    "/console/settings/webhooks/",
    "/console/settings/api-keys/",
    "/console/settings/templates/",
    "/console/settings/agent-roles/",
    "/console/settings/members/",
]


def _writes(tenant: TenantFixture) -> list[tuple[str, dict[str, str]]]:
    """One POST of every kind the console accepts, on tenant A's real objects."""
    integration = tenant.integrations["sms"]
    key = ApiKey.objects.filter(tenant=tenant.tenant).first()
    assert key is not None
    member = Membership.objects.filter(tenant=tenant.tenant).first()
    assert member is not None
    with tenant.schema():
        endpoint = Endpoint.objects.first()
    endpoint_id = endpoint.id if endpoint else "whep_missing"
    return [
        (
            "/console/settings/integrations/new/",
            {"channel": "sms", "provider": "sandbox", "name": "forged"},
        ),
        (f"/console/settings/integrations/{integration}/", {"name": "forged"}),
        *[
            (f"/console/settings/integrations/{integration}/{action}", {})
            for action in ("test", "disable", "enable", "make-default", "remove")
        ],
        ("/console/settings/webhooks/", {"url": "https://example.com/h", "events": "*"}),
        *[
            (f"/console/settings/webhooks/{endpoint_id}/{action}", {})
            for action in ("reveal", "rotate", "test", "disable", "enable", "delete")
        ],
        ("/console/settings/api-keys/", {"name": "forged"}),
        (f"/console/settings/api-keys/{key.id}/revoke", {}),
        ("/console/settings/members/", {"email": "new@example.com", "role": "owner"}),
        (f"/console/settings/members/{member.id}/role", {"role": "viewer"}),
        (f"/console/settings/members/{member.id}/remove", {}),
    ]


def test_pages_need_a_login() -> None:
    for url in PAGES:
        answer = Client().get(url)
        assert answer.status_code == 302 and answer["Location"].startswith("/console/login/")
    # a live thread whose session ended sends the whole page to the login
    polled = Client().get("/console/conversations/sess_x/", HTTP_HX_REQUEST="true")
    assert polled.status_code == 200 and polled["HX-Redirect"] == "/console/login/"


@pytest.mark.parametrize("role", Role.values)
def test_every_role_reads_every_page(member: Callable[[str], Client], role: str) -> None:
    client = member(role)
    for url in PAGES:
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert answer["Cache-Control"] == "no-store"


def test_a_viewer_is_refused_every_write_and_nothing_changes(
    viewer: Client, tenant_a: TenantFixture
) -> None:
    # given: an endpoint to aim at
    with tenant_a.schema():
        Endpoint.objects.create(url="https://example.com/h", events=["*"], secrets={"current": "x"})
        integrations_before = list(Integration.objects.values_list("id", "name", "status"))
    keys_before = ApiKey.objects.filter(revoked_at__isnull=True).count()

    # when / then
    for url, data in _writes(tenant_a):
        assert viewer.post(url, data).status_code == 403, url

    with tenant_a.schema():
        assert list(Integration.objects.values_list("id", "name", "status")) == integrations_before
        assert Endpoint.objects.count() == 1
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == keys_before


def test_a_forged_post_with_a_valid_csrf_token_is_still_refused(
    tenant_a: TenantFixture,
) -> None:
    # given: a viewer logged in through the form, with CSRF checks on
    add_member(tenant_a.tenant, email="v@example.com", password=PASSWORD, role=Role.VIEWER)
    client = Client(enforce_csrf_checks=True)
    client.get("/console/login/")
    token = client.cookies["csrftoken"].value
    logged_in = client.post(
        "/console/login/",
        {"username": "V@example.com", "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert logged_in.status_code == 302
    token = client.cookies["csrftoken"].value

    # when
    answer = client.post(
        "/console/settings/api-keys/", {"name": "forged", "csrfmiddlewaretoken": token}
    )

    # then: refused by role, not by CSRF; and with no token at all, by CSRF
    assert answer.status_code == 403 and b"CSRF" not in answer.content
    assert client.post("/console/settings/api-keys/", {"name": "x"}).status_code == 403
    assert not ApiKey.objects.filter(name="forged").exists()


def test_a_developer_manages_keys_but_not_integrations(
    member: Callable[[str], Client], tenant_a: TenantFixture
) -> None:
    developer = member(Role.DEVELOPER)
    created = developer.post("/console/settings/api-keys/", {"name": "CI"})
    assert created.status_code == 200 and b"egk_" in created.content
    refused = developer.post(
        "/console/settings/integrations/new/", {"channel": "sms", "provider": "sandbox"}
    )
    assert refused.status_code == 403
    assert (
        developer.post("/console/settings/members/", {"email": "x@example.com"}).status_code == 403
    )


def test_an_admin_changes_settings_but_not_members(
    member: Callable[[str], Client], settings: Any
) -> None:
    settings.ENGIUM_WEBHOOKS_ALLOW_PRIVATE = True
    admin = member(Role.ADMIN)
    answer = admin.post(
        "/console/settings/webhooks/", {"url": "http://127.0.0.1:9/x", "events": "*"}
    )
    assert answer.status_code == 302
    assert (
        admin.post(
            "/console/settings/members/", {"email": "x@example.com", "role": "viewer"}
        ).status_code
        == 403
    )


def test_a_user_of_two_tenants_picks_one_and_switches(
    tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    # given
    add_member(tenant_a.tenant, email="both@example.com", password=PASSWORD, role=Role.OWNER)
    add_member(tenant_b.tenant, email="both@example.com", password=PASSWORD, role=Role.VIEWER)
    client = Client()
    client.post("/console/login/", {"username": "both@example.com", "password": PASSWORD})

    # when: no tenant picked yet
    assert client.get("/console/")["Location"] == "/console/tenants/"

    # then: the picked tenant's data and role
    client.post("/console/tenants/", {"tenant": tenant_b.id})
    page = client.get("/console/settings/integrations/")
    assert tenant_b.tenant.name.encode() in page.content
    assert page.context["console"].role == Role.VIEWER
    client.post("/console/tenants/", {"tenant": tenant_a.id})
    assert client.get("/console/settings/integrations/").context["console"].role == Role.OWNER


def test_a_tenant_the_user_does_not_belong_to_cannot_be_picked(
    tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    add_member(tenant_a.tenant, email="one@example.com", password=PASSWORD, role=Role.OWNER)
    client = Client()
    client.post("/console/login/", {"username": "one@example.com", "password": PASSWORD})
    assert client.post("/console/tenants/", {"tenant": tenant_b.id}).status_code == 400
    assert client.get("/console/").context["tenant"] == tenant_a.tenant


def test_another_tenants_objects_are_not_found(owner: Client, tenant_b: TenantFixture) -> None:
    integration = tenant_b.integrations["sms"]
    assert owner.get(f"/console/settings/integrations/{integration}/").status_code == 404
    with tenant_b.schema():
        assert Conversation.objects.count() >= 0


def test_logins_are_locked_after_repeated_bad_passwords(tenant_a: TenantFixture) -> None:
    add_member(tenant_a.tenant, email="locked@example.com", password=PASSWORD, role=Role.OWNER)
    client = Client()
    for _ in range(5):
        answer = client.post(
            "/console/login/", {"username": "locked@example.com", "password": "no"}
        )
    assert answer.status_code == 429
    # the right password no longer helps
    answer = client.post(
        "/console/login/", {"username": "locked@example.com", "password": PASSWORD}
    )
    assert answer.status_code == 429 and b"Too many failed logins" in answer.content
    assert "_auth_user_id" not in client.session


def test_the_last_owner_cannot_be_removed_nor_demoted(
    owner: Client, tenant_a: TenantFixture
) -> None:
    me = Membership.objects.get(tenant=tenant_a.tenant, user__username="owner@example.com")
    owners = Membership.objects.filter(tenant=tenant_a.tenant, role=Role.OWNER)
    assert list(owners) == [me]

    owner.post(f"/console/settings/members/{me.id}/remove")
    owner.post(f"/console/settings/members/{me.id}/role", {"role": "viewer"})

    me.refresh_from_db()
    assert me.role == Role.OWNER


def test_an_owner_invites_changes_a_role_and_removes_a_member(
    owner: Client, tenant_a: TenantFixture, mailoutbox: list
) -> None:
    answer = owner.post(
        "/console/settings/members/", {"email": "New@Example.com", "role": "developer"}
    )
    assert answer.status_code == 302
    invited = Membership.objects.get(tenant=tenant_a.tenant, user__username="new@example.com")
    assert invited.role == Role.DEVELOPER and not invited.user.has_usable_password()
    assert len(mailoutbox) == 1 and "/console/password/reset/" in mailoutbox[0].body

    owner.post(f"/console/settings/members/{invited.id}/role", {"role": "admin"})
    invited.refresh_from_db()
    assert invited.role == Role.ADMIN
    owner.post(f"/console/settings/members/{invited.id}/remove")
    assert not Membership.objects.filter(pk=invited.pk).exists()
    assert get_user_model().objects.filter(username="new@example.com").exists()
