"""The operator CLI: `create_tenant --name --plan [--rate-limit] [--owner-…] --json`.

The contract: docs/operations.md#creating-tenants.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from tenants.models import ApiKey, Membership, Tenant
from tests.conftest import ApiClient, TenantFixture, error_of, test_database_url

BASE_DIR = Path(__file__).resolve().parents[2]
PLAN_LIMITS = {"free": 100, "starter": 500, "pro": 2000}


def run(*args: str) -> dict[str, Any]:
    out = StringIO()
    call_command("create_tenant", *args, stdout=out)
    text = out.getvalue().strip()
    result = json.loads(text)  # the whole output is one JSON object
    assert isinstance(result, dict), text
    return result


def schema_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.schemata")
        return int(cursor.fetchone()[0])


def as_fixture(result: dict[str, Any]) -> TenantFixture:
    return TenantFixture(
        tenant=Tenant.objects.get(public_id=result["tenant_id"]), api_key=result["api_key"]
    )


def test_prints_one_json_object_with_a_working_key(api: ApiClient, db: None) -> None:
    result = run("--name", "Acme Corp", "--plan", "starter", "--json")

    assert result["tenant_id"].startswith("ten_") and len(result["tenant_id"]) == 30
    assert result["api_key"].startswith("egk_")
    tenant = Tenant.objects.get(public_id=result["tenant_id"])
    assert (tenant.name, tenant.plan, tenant.is_active) == ("Acme Corp", "starter", True)
    assert ApiKey.objects.filter(tenant=tenant, revoked_at__isnull=True).count() == 1

    # the key authenticates against the API, and only for its tenant
    response = api.get("conversations", tenant=as_fixture(result))
    assert response.status_code == 200, response.content
    wrong = api.get(
        "conversations",
        headers={
            "HTTP_AUTHORIZATION": f"Bearer {result['api_key']}",
            "HTTP_X_TENANT_ID": "ten_" + "0" * 26,
        },
    )
    assert wrong.status_code == 401


def test_the_new_tenant_has_its_own_schema(db: None) -> None:
    result = run("--name", "Schema Check", "--plan", "free", "--json")
    tenant = Tenant.objects.get(public_id=result["tenant_id"])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema = %s AND table_name = %s",
            [tenant.schema_name, "conversations_conversation"],
        )
        assert cursor.fetchone()[0] == 1


def test_two_runs_make_two_tenants_with_distinct_ids_and_keys(db: None) -> None:
    first = run("--name", "Same Name", "--plan", "free", "--json")
    second = run("--name", "Same Name", "--plan", "free", "--json")
    assert first["tenant_id"] != second["tenant_id"]
    assert first["api_key"] != second["api_key"]


@pytest.mark.parametrize("plan", ["free", "starter", "pro"])
def test_the_plan_sets_the_rate_limit(db: None, plan: str) -> None:
    result = run("--name", f"Plan {plan}", "--plan", plan, "--json")
    tenant = Tenant.objects.get(public_id=result["tenant_id"])
    assert tenant.plan == plan
    assert tenant.rate_limit is None
    assert tenant.effective_rate_limit == PLAN_LIMITS[plan]


@pytest.mark.parametrize(("plan", "limit"), [("free", 1), ("pro", 100_000), ("starter", 50)])
def test_rate_limit_overrides_the_plan(db: None, plan: str, limit: int) -> None:
    result = run("--name", "Bench", "--plan", plan, "--rate-limit", str(limit), "--json")
    tenant = Tenant.objects.get(public_id=result["tenant_id"])
    assert tenant.rate_limit == limit
    assert tenant.effective_rate_limit == limit
    assert result.get("rate_limit", limit) == limit


def test_owner_gets_an_owner_membership_and_can_log_in(api: ApiClient, db: None) -> None:
    result = run(
        "--name",
        "Owned",
        "--plan",
        "pro",
        "--owner-email",
        "Founder@Example.com",
        "--owner-password",
        "correct horse battery",
        "--json",
    )
    tenant = Tenant.objects.get(public_id=result["tenant_id"])
    membership = Membership.objects.select_related("user").get(tenant=tenant)
    assert membership.role == "owner"
    user = membership.user
    assert user.email.lower() == "founder@example.com"
    assert user.check_password("correct horse battery")
    assert not user.check_password("wrong password")
    # The console's login form, as the owner would (django-axes wants a request to count).
    answer = api.client.post(
        "/console/login/",
        {"username": "Founder@example.com", "password": "correct horse battery"},
    )
    assert answer.status_code == 302 and api.client.session["_auth_user_id"] == str(user.pk)


def test_without_owner_no_membership_is_made(db: None) -> None:
    users = get_user_model().objects.count()
    result = run("--name", "No owner", "--plan", "free", "--json")
    assert not Membership.objects.filter(tenant__public_id=result["tenant_id"]).exists()
    assert get_user_model().objects.count() == users


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--name", "Bad plan", "--plan", "enterprise"], id="unknown plan"),
        pytest.param(["--name", "Bad plan", "--plan", "PRO"], id="plan in upper case"),
        pytest.param(["--name", "", "--plan", "free"], id="empty name"),
        pytest.param(["--name", "   ", "--plan", "free"], id="blank name"),
        pytest.param(["--plan", "free"], id="no name"),
        pytest.param(
            ["--name", "Neg", "--plan", "free", "--rate-limit", "-5"], id="negative rate limit"
        ),
        pytest.param(
            ["--name", "Zero", "--plan", "free", "--rate-limit", "0"], id="zero rate limit"
        ),
        pytest.param(
            ["--name", "NaN", "--plan", "free", "--rate-limit", "lots"],
            id="rate limit not a number",
        ),
        pytest.param(
            ["--name", "Pw", "--plan", "free", "--owner-password", "secret pass"],
            id="password without email",
        ),
        pytest.param(
            ["--name", "Mail", "--plan", "free", "--owner-email", "not-an-email"], id="bad email"
        ),
    ],
)
def test_bad_arguments_fail_and_create_nothing(db: None, args: list[str]) -> None:
    tenants, keys, schemas = Tenant.objects.count(), ApiKey.objects.count(), schema_count()
    out = StringIO()
    with pytest.raises((CommandError, SystemExit)):
        call_command("create_tenant", *args, "--json", stdout=out)
    assert (Tenant.objects.count(), ApiKey.objects.count(), schema_count()) == (
        tenants,
        keys,
        schemas,
    )
    assert "api_key" not in out.getvalue()


def test_a_created_tenant_is_authenticated_but_has_no_channel_yet(api: ApiClient, db: None) -> None:
    # A new tenant connects its channels itself (Settings → Integrations): its key works at
    # once, and a send is refused cleanly until a channel is connected.
    fixture = as_fixture(run("--name", "Fresh", "--plan", "free", "--json"))
    assert api.get("conversations", tenant=fixture).status_code == 200
    response = api.send(fixture)
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == "channel_not_configured"


# ------------------------------------------------------------------ as a real process


def test_runs_as_a_subprocess_and_prints_json(
    django_db_setup: None, django_db_blocker: Any, api: ApiClient
) -> None:
    # Not in a test transaction: the subprocess commits, so the test removes what it made.
    env = {**os.environ, "DATABASE_URL": test_database_url()}
    completed = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "create_tenant",
            "--name",
            "Subprocess Co",
            "--plan",
            "starter",
            "--rate-limit",
            "750",
            "--json",
        ],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    result: dict[str, Any] = {}
    try:
        assert completed.returncode == 0, completed.stderr
        result = json.loads(completed.stdout.strip())
        assert {"tenant_id", "api_key"} <= set(result), completed.stdout
        assert result["tenant_id"].startswith("ten_")
        with django_db_blocker.unblock():
            tenant = Tenant.objects.get(public_id=result["tenant_id"])
            assert (tenant.plan, tenant.effective_rate_limit) == ("starter", 750)
            response = api.get(
                "conversations", tenant=TenantFixture(tenant=tenant, api_key=result["api_key"])
            )
            assert response.status_code == 200, response.content
    finally:
        if result.get("tenant_id"):
            with django_db_blocker.unblock():
                connection.set_schema_to_public()
                Tenant.objects.get(public_id=result["tenant_id"]).delete(force_drop=True)
                assert not Tenant.objects.filter(public_id=result["tenant_id"]).exists()
