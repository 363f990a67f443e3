"""Passwords (change, reset, invitation links), and the console's cookies in production."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from tenants.models import Role
from tenants.services import add_member
from tests.conftest import TenantFixture
from tests.console.conftest import PASSWORD
from tests.engium.test_settings import PRODUCTION_SECRETS, load_settings

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another long password"


def _link(body: str) -> str:
    found = re.search(r"http://testserver(/console/password/reset/[^\s]+/)", body)
    assert found, body
    return found.group(1)


def _logs_in(email: str, password: str) -> bool:
    answer = Client().post("/console/login/", {"username": email, "password": password})
    return answer.status_code == 302


def test_a_password_is_reset_through_the_mailed_link(tenant_a: TenantFixture) -> None:
    add_member(tenant_a.tenant, email="forgot@example.com", password=PASSWORD, role=Role.OWNER)
    client = Client()

    sent = client.post("/console/password/reset/", {"email": "forgot@example.com"})
    assert sent.status_code == 302 and len(mail.outbox) == 1
    form = client.get(_link(mail.outbox[0].body), follow=True)
    assert form.context["validlink"]
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done.status_code == 302

    assert _logs_in("forgot@example.com", NEW_PASSWORD)
    assert not _logs_in("forgot@example.com", PASSWORD)
    # the link worked once
    assert not client.get(_link(mail.outbox[0].body), follow=True).context["validlink"]


def test_an_unknown_address_gets_the_same_answer_and_no_mail() -> None:
    answer = Client().post("/console/password/reset/", {"email": "nobody@example.com"})
    assert answer.status_code == 302 and answer["Location"] == "/console/password/reset/sent/"
    assert mail.outbox == []


def test_an_invited_member_chooses_a_password_from_the_invitation(
    owner: Client, tenant_a: TenantFixture
) -> None:
    owner.post("/console/settings/members/", {"email": "invited@example.com", "role": "viewer"})
    client = Client()
    form = client.get(_link(mail.outbox[0].body), follow=True)
    client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert _logs_in("invited@example.com", NEW_PASSWORD)


def test_a_logged_in_user_changes_the_password(tenant_a: TenantFixture) -> None:
    membership = add_member(
        tenant_a.tenant, email="change@example.com", password=PASSWORD, role=Role.VIEWER
    )
    client = Client()
    client.force_login(membership.user)
    wrong = client.post(
        "/console/password/",
        {"old_password": "wrong", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert wrong.status_code == 200 and wrong.context["form"].errors["old_password"]
    changed = client.post(
        "/console/password/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    assert get_user_model().objects.get(pk=membership.user.pk).check_password(NEW_PASSWORD)
    assert client.get("/console/").status_code == 200  # still logged in


def test_logout_is_a_post_and_ends_the_session(owner: Client) -> None:
    assert owner.get("/console/logout/").status_code == 405
    assert owner.post("/console/logout/").status_code == 302
    assert owner.get("/console/").status_code == 302


def test_production_cookies_are_secure_host_only_cookies() -> None:
    read = (
        "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_NAME, "
        "s.CSRF_COOKIE_NAME)"
    )
    loaded = load_settings(
        "engium.settings", read=read, ENGIUM_ENV="production", **PRODUCTION_SECRETS
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["True", "True", "True", "__Host-sessionid", "__Host-csrftoken"]
