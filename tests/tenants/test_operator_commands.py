"""Operator commands: `revoke_api_key PREFIX` and `suspend_tenant ID [--reactivate]`.

The contract: docs/operations.md#revoking-keys-and-suspending-tenants.
"""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tenants.models import ApiKey, Tenant
from tenants.services import create_api_key, revoke_api_key, set_tenant_active
from tests.conftest import ApiClient, TenantFixture, error_of, test_database_url

BASE_DIR = Path(__file__).resolve().parents[2]


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def fresh(tenant: TenantFixture) -> Tenant:
    return Tenant.objects.get(pk=tenant.tenant.pk)


def auth(key: str, tenant_id: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}", "HTTP_X_TENANT_ID": tenant_id}


def status_of(api: ApiClient, headers: dict[str, str]) -> int:
    return int(api.get("conversations", headers=headers).status_code)


# ------------------------------------------------------------------ revoke_api_key


def test_revoke_api_key_by_prefix(api: ApiClient, tenant_a: TenantFixture) -> None:
    issued = create_api_key(fresh(tenant_a), name="leaked in a log")
    headers = auth(issued.raw_key, tenant_a.id)
    assert status_of(api, headers) == 200  # cached as valid

    output = run("revoke_api_key", issued.api_key.prefix)

    row = ApiKey.objects.get(pk=issued.api_key.pk)
    assert row.revoked_at is not None
    for shown in (row.pk, row.prefix, "leaked in a log", tenant_a.id):
        assert shown in output, output
    assert issued.raw_key not in output
    assert status_of(api, headers) == 401  # at once: the command goes through the service
    assert status_of(api, tenant_a.headers()) == 200  # the tenant's other keys still work


def test_revoke_api_key_by_key_id(tenant_a: TenantFixture) -> None:
    issued = create_api_key(fresh(tenant_a), name="by id")
    output = run("revoke_api_key", issued.api_key.pk)
    assert issued.api_key.pk in output
    assert ApiKey.objects.get(pk=issued.api_key.pk).revoked_at is not None


@pytest.mark.parametrize(
    "argument",
    ["egk_ZZZZZZZZ", "key_00000000000000000000000000"],
    ids=["unknown prefix", "unknown key ID"],
)
def test_revoke_api_key_refuses_an_unknown_key(tenant_a: TenantFixture, argument: str) -> None:
    before = set(ApiKey.objects.filter(revoked_at__isnull=True).values_list("pk", flat=True))
    with pytest.raises(CommandError, match="No API key"):
        run("revoke_api_key", argument)
    after = set(ApiKey.objects.filter(revoked_at__isnull=True).values_list("pk", flat=True))
    assert after == before


@pytest.mark.parametrize(
    "argument",
    ["egk_AbC", "AbCdEfGhIjKl", "", "egk_AbCdEfGhIjKlMnOp"],
    ids=["too short", "no egk_", "empty", "longer than a prefix"],
)
def test_revoke_api_key_refuses_what_is_not_a_prefix(
    tenant_a: TenantFixture, argument: str
) -> None:
    with pytest.raises(CommandError, match="prefix"):
        run("revoke_api_key", argument)


def test_a_whole_key_is_refused_without_echoing_it(tenant_a: TenantFixture) -> None:
    with pytest.raises(CommandError) as raised:
        run("revoke_api_key", tenant_a.api_key)
    assert tenant_a.api_key not in str(raised.value)
    assert not ApiKey.objects.filter(tenant=tenant_a.tenant, revoked_at__isnull=False).filter(
        prefix=tenant_a.api_key[:12]
    )


def _shared_prefix(tenant_a: TenantFixture, tenant_b: TenantFixture) -> tuple[ApiKey, ApiKey]:
    first = create_api_key(fresh(tenant_a), name="first").api_key
    second = create_api_key(fresh(tenant_b), name="second").api_key
    ApiKey.objects.filter(pk=second.pk).update(prefix=first.prefix)  # 48 random bits collide
    return first, ApiKey.objects.get(pk=second.pk)


def test_revoke_api_key_refuses_an_ambiguous_prefix(
    tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    first, second = _shared_prefix(tenant_a, tenant_b)

    with pytest.raises(CommandError, match="ambiguous") as raised:
        run("revoke_api_key", first.prefix)

    message = str(raised.value)
    assert first.pk in message and second.pk in message
    assert not ApiKey.objects.filter(pk__in=[first.pk, second.pk], revoked_at__isnull=False)


def test_an_ambiguous_prefix_is_resolved_by_the_tenant(
    tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    first, second = _shared_prefix(tenant_a, tenant_b)

    output = run("revoke_api_key", first.prefix, "--tenant", tenant_b.id)

    assert second.pk in output and first.pk not in output
    assert ApiKey.objects.get(pk=second.pk).revoked_at is not None
    assert ApiKey.objects.get(pk=first.pk).revoked_at is None


def test_a_prefix_shared_with_a_revoked_key_is_not_ambiguous(
    tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    first, second = _shared_prefix(tenant_a, tenant_b)
    revoke_api_key(first)

    output = run("revoke_api_key", first.prefix)

    assert second.pk in output
    assert ApiKey.objects.get(pk=second.pk).revoked_at is not None


def test_revoking_a_revoked_key_changes_nothing(tenant_a: TenantFixture) -> None:
    issued = create_api_key(fresh(tenant_a), name="twice")
    revoked_at = revoke_api_key(issued.api_key).revoked_at

    output = run("revoke_api_key", issued.api_key.prefix)

    assert "already revoked" in output.lower() and issued.api_key.pk in output
    assert ApiKey.objects.get(pk=issued.api_key.pk).revoked_at == revoked_at


def test_revoke_api_key_with_an_unknown_tenant(tenant_a: TenantFixture) -> None:
    with pytest.raises(CommandError, match="No API key"):
        run("revoke_api_key", tenant_a.api_key[:12], "--tenant", "ten_" + "0" * 26)
    with pytest.raises(CommandError, match="--tenant"):
        run("revoke_api_key", tenant_a.api_key[:12], "--tenant", "acme")


# ------------------------------------------------------------------ suspend_tenant


def test_suspend_and_reactivate_a_tenant(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    assert status_of(api, tenant_a.headers()) == 200  # cached as active

    output = run("suspend_tenant", tenant_a.id)

    assert tenant_a.id in output and "suspended" in output.lower()
    assert fresh(tenant_a).is_active is False
    response = api.get("conversations", tenant=tenant_a)
    assert response.status_code == 403
    assert error_of(response)["code"] == "tenant_suspended"
    assert status_of(api, tenant_b.headers()) == 200

    output = run("suspend_tenant", tenant_a.id, "--reactivate")

    assert tenant_a.id in output and "reactivated" in output.lower()
    assert fresh(tenant_a).is_active is True
    assert status_of(api, tenant_a.headers()) == 200


def test_suspending_twice_says_so(tenant_a: TenantFixture) -> None:
    set_tenant_active(fresh(tenant_a), active=False)
    output = run("suspend_tenant", tenant_a.id)
    assert "already" in output.lower()
    assert fresh(tenant_a).is_active is False


@pytest.mark.parametrize(
    "argument",
    ["ten_" + "0" * 26, "acme", "", "t_01m8ksth2m1exmarp5ax2vx0pe"],
    ids=["unknown", "malformed", "empty", "schema name"],
)
def test_suspend_tenant_refuses_an_unknown_tenant(tenant_a: TenantFixture, argument: str) -> None:
    with pytest.raises(CommandError, match="No tenant"):
        run("suspend_tenant", argument)
    assert fresh(tenant_a).is_active is True


# ------------------------------------------------------------------ as processes


@pytest.mark.parametrize(
    "args",
    [("revoke_api_key", "egk_ZZZZZZZZ"), ("suspend_tenant", "ten_" + "0" * 26)],
    ids=["revoke_api_key", "suspend_tenant"],
)
def test_an_unknown_target_exits_non_zero(django_db_setup: None, args: tuple[str, ...]) -> None:
    env: dict[str, Any] = {**os.environ, "DATABASE_URL": test_database_url()}
    completed = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 1, completed
    assert completed.stderr.startswith("CommandError: No "), completed.stderr
    assert completed.stdout == ""
