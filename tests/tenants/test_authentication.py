"""`Authorization: Bearer <key>` and `X-Tenant-ID` on every /api/v1/ request.

The contract: docs/api.md#authentication.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Conversation, Message
from tenants.models import ApiKey, Tenant
from tenants.services import create_api_key, revoke_api_key, set_tenant_active
from tests.conftest import ApiClient, TenantFixture, error_of

ENDPOINTS = [("get", "conversations"), ("post", "conversations/send")]
SEND_BODY = {"recipient": "+15550102999", "channel": "sms", "message": {"text": "Hello!"}}
UNKNOWN_TENANT = "ten_" + "0123456789abcdefghijklmnop"


def call(api: ApiClient, endpoint: tuple[str, str], headers: dict[str, str]) -> Any:
    method, path = endpoint
    if method == "get":
        return api.get(path, headers=headers)
    return api.post(path, json_body=SEND_BODY, headers=headers)


def auth(key: str, tenant_id: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}", "HTTP_X_TENANT_ID": tenant_id}


def counts(tenant: TenantFixture) -> tuple[int, int]:
    with tenant.schema():
        return Conversation.objects.count(), Message.objects.count()


def fresh(tenant: TenantFixture) -> Tenant:
    """A separate instance of the tenant, so that changing it leaves the session fixture alone."""
    return Tenant.objects.get(pk=tenant.tenant.pk)


def assert_401(response: Any) -> dict[str, Any]:
    assert response.status_code == 401, response.content
    error = error_of(response)
    assert error["code"] == "authentication_failed"
    assert response["WWW-Authenticate"].lower().startswith("bearer")
    return error


HeaderCase = Callable[[TenantFixture, TenantFixture], dict[str, str]]
BAD_HEADERS: dict[str, HeaderCase] = {
    "no headers": lambda a, b: {},
    "no Authorization": lambda a, b: {"HTTP_X_TENANT_ID": a.id},
    "no X-Tenant-ID": lambda a, b: {"HTTP_AUTHORIZATION": f"Bearer {a.api_key}"},
    "empty X-Tenant-ID": lambda a, b: auth(a.api_key, ""),
    "Basic scheme": lambda a, b: {
        "HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{a.id}:{a.api_key}".encode()).decode(),
        "HTTP_X_TENANT_ID": a.id,
    },
    "Token scheme": lambda a, b: {
        "HTTP_AUTHORIZATION": f"Token {a.api_key}",
        "HTTP_X_TENANT_ID": a.id,
    },
    "no scheme": lambda a, b: {"HTTP_AUTHORIZATION": a.api_key, "HTTP_X_TENANT_ID": a.id},
    "Bearer without key": lambda a, b: {"HTTP_AUTHORIZATION": "Bearer", "HTTP_X_TENANT_ID": a.id},
    "Bearer with blank key": lambda a, b: {
        "HTTP_AUTHORIZATION": "Bearer    ",
        "HTTP_X_TENANT_ID": a.id,
    },
    "wrong key": lambda a, b: auth("egk_" + secrets.token_urlsafe(30), a.id),
    "key with a changed last character": lambda a, b: auth(
        a.api_key[:-1] + ("A" if a.api_key[-1] != "A" else "B"), a.id
    ),
    "key prefix only": lambda a, b: auth(a.api_key[:12], a.id),
    "key with extra characters": lambda a, b: auth(a.api_key + "x", a.id),
    "overlong key": lambda a, b: auth("egk_" + "a" * 500, a.id),
    "key of tenant B with tenant A's id": lambda a, b: auth(b.api_key, a.id),
    "key of tenant A with tenant B's id": lambda a, b: auth(a.api_key, b.id),
    "unknown well-formed tenant id": lambda a, b: auth(a.api_key, UNKNOWN_TENANT),
    "tenant id in upper case": lambda a, b: auth(a.api_key, a.id.upper()),
    "tenant id too short": lambda a, b: auth(a.api_key, a.id[:-1]),
    "tenant id too long": lambda a, b: auth(a.api_key, a.id + "0"),
    "schema name as tenant id": lambda a, b: auth(a.api_key, a.tenant.schema_name),
    "public as tenant id": lambda a, b: auth(a.api_key, "public"),
    "primary key as tenant id": lambda a, b: auth(a.api_key, str(a.tenant.pk)),
    "SQL in tenant id": lambda a, b: auth(a.api_key, "ten_' OR '1'='1"),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e[0])
@pytest.mark.parametrize("case", list(BAD_HEADERS), ids=str)
def test_bad_credentials_are_401(
    api: ApiClient,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    endpoint: tuple[str, str],
    case: str,
) -> None:
    before = counts(tenant_a), counts(tenant_b)
    response = call(api, endpoint, BAD_HEADERS[case](tenant_a, tenant_b))
    assert_401(response)
    assert (counts(tenant_a), counts(tenant_b)) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e[0])
def test_every_401_is_the_same_answer(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture, endpoint: tuple[str, str]
) -> None:
    # The answer for an unknown tenant equals the one for a wrong key: no tenant enumeration.
    bodies = {
        case: call(api, endpoint, make(tenant_a, tenant_b)).content
        for case, make in BAD_HEADERS.items()
    }
    assert bodies["unknown well-formed tenant id"] == bodies["wrong key"]
    assert bodies["key of tenant B with tenant A's id"] == bodies["wrong key"]
    assert len(set(bodies.values())) == 1, bodies


def test_unknown_tenant_and_wrong_key_answer_identically_headers_included(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    unknown = api.get("conversations", headers=auth(tenant_a.api_key, UNKNOWN_TENANT))
    wrong = api.get("conversations", headers=auth("egk_" + secrets.token_urlsafe(30), tenant_a.id))
    ignored = {"X-Request-ID"}
    assert unknown.status_code == wrong.status_code == 401
    assert {k: v for k, v in unknown.items() if k not in ignored} == {
        k: v for k, v in wrong.items() if k not in ignored
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e[0])
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_valid_credentials_are_accepted(
    api: ApiClient, tenant_a: TenantFixture, endpoint: tuple[str, str], scheme: str
) -> None:
    headers = {
        "HTTP_AUTHORIZATION": f"{scheme} {tenant_a.api_key}",
        "HTTP_X_TENANT_ID": tenant_a.id,
    }
    response = call(api, endpoint, headers)
    assert response.status_code == (200 if endpoint[0] == "get" else 201), response.content


def test_a_tenant_sees_only_its_own_conversations(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    sent = api.send(tenant_a)
    assert sent.status_code == 201
    conversation_id = sent.json()["id"]

    assert api.get(f"conversations/{conversation_id}", tenant=tenant_a).status_code == 200
    assert api.get(f"conversations/{conversation_id}", tenant=tenant_b).status_code == 404
    listed = api.get("conversations", tenant=tenant_b).json()
    assert conversation_id not in str(listed)


# ------------------------------------------------------------------ keys: revoked, new, last used


def test_a_revoked_key_is_refused_from_the_next_request(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    issued = create_api_key(fresh(tenant_a), name="to revoke")
    headers = auth(issued.raw_key, tenant_a.id)
    assert api.get("conversations", headers=headers).status_code == 200  # cached as valid now

    revoke_api_key(issued.api_key)

    for endpoint in ENDPOINTS:
        assert_401(call(api, endpoint, headers))
    # the tenant's other keys still work
    assert api.get("conversations", tenant=tenant_a).status_code == 200


def test_revoking_twice_keeps_the_first_revocation_time(tenant_a: TenantFixture) -> None:
    issued = create_api_key(fresh(tenant_a), name="twice")
    first = revoke_api_key(issued.api_key).revoked_at
    again = revoke_api_key(ApiKey.objects.get(pk=issued.api_key.pk)).revoked_at
    assert first is not None and again == first


def test_a_new_key_works_at_once(api: ApiClient, tenant_a: TenantFixture) -> None:
    # given the tenant is already in the authentication cache
    assert api.get("conversations", tenant=tenant_a).status_code == 200
    # when a key is created
    issued = create_api_key(fresh(tenant_a), name="CI")
    # then it works on the next request, and only for its tenant
    assert api.get("conversations", headers=auth(issued.raw_key, tenant_a.id)).status_code == 200
    assert (
        api.post(
            "conversations/send", json_body=SEND_BODY, headers=auth(issued.raw_key, tenant_a.id)
        ).status_code
        == 201
    )


def test_keys_are_stored_only_as_a_hash(tenant_a: TenantFixture) -> None:
    issued = create_api_key(fresh(tenant_a), name="hash")
    row = ApiKey.objects.get(pk=issued.api_key.pk)
    assert issued.raw_key not in {row.key_hash, row.prefix, row.name}
    assert issued.raw_key.startswith(row.prefix) and len(row.prefix) < len(issued.raw_key)


def test_last_used_at_is_set_by_a_request(api: ApiClient, tenant_a: TenantFixture) -> None:
    issued = create_api_key(fresh(tenant_a), name="usage")
    assert issued.api_key.last_used_at is None

    response = api.get("conversations", headers=auth(issued.raw_key, tenant_a.id))

    assert response.status_code == 200
    used = ApiKey.objects.get(pk=issued.api_key.pk).last_used_at
    assert used is not None
    assert abs(timezone.now() - used) < timedelta(seconds=30)


def test_a_failed_request_does_not_touch_last_used_at(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    issued = create_api_key(fresh(tenant_a), name="misused")
    assert_401(api.get("conversations", headers=auth(issued.raw_key, tenant_b.id)))
    assert ApiKey.objects.get(pk=issued.api_key.pk).last_used_at is None


# ------------------------------------------------------------------ suspended tenants


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e[0])
def test_a_suspended_tenant_is_403_with_its_valid_key(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture, endpoint: tuple[str, str]
) -> None:
    # given a warm cache
    assert api.get("conversations", tenant=tenant_a).status_code == 200
    before = counts(tenant_a)
    # when the tenant is suspended
    set_tenant_active(fresh(tenant_a), active=False)
    # then its valid key gets 403 at once, and any bad credential still a plain 401
    response = call(api, endpoint, tenant_a.headers())
    assert response.status_code == 403, response.content
    assert error_of(response)["code"] == "tenant_suspended"
    assert_401(call(api, endpoint, auth("egk_" + secrets.token_urlsafe(30), tenant_a.id)))
    assert_401(call(api, endpoint, auth(tenant_b.api_key, tenant_a.id)))
    assert counts(tenant_a) == before
    # and other tenants are untouched
    assert call(api, endpoint, tenant_b.headers()).status_code in {200, 201}


def test_a_reactivated_tenant_is_served_again_at_once(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    tenant = fresh(tenant_a)
    set_tenant_active(tenant, active=False)
    assert api.get("conversations", tenant=tenant_a).status_code == 403  # cached as suspended now

    set_tenant_active(tenant, active=True)

    assert api.get("conversations", tenant=tenant_a).status_code == 200
    assert api.send(tenant_a).status_code == 201


def test_a_revoked_key_of_a_suspended_tenant_is_401(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    issued = create_api_key(fresh(tenant_a), name="revoked and suspended")
    revoke_api_key(issued.api_key)
    set_tenant_active(fresh(tenant_a), active=False)
    assert_401(api.get("conversations", headers=auth(issued.raw_key, tenant_a.id)))


# ------------------------------------------------------------------ the warm path


def _auth_queries(queries: list[dict[str, Any]]) -> list[str]:
    return [
        q["sql"] for q in queries if "tenants_apikey" in q["sql"] or "tenants_tenant" in q["sql"]
    ]


def test_the_warm_path_runs_no_sql_on_the_auth_tables(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    with CaptureQueriesContext(connection) as cold:
        assert api.get("conversations", tenant=tenant_a).status_code == 200
    assert _auth_queries(cold.captured_queries), "the cold request should have read the auth tables"

    with CaptureQueriesContext(connection) as warm:
        assert api.get("conversations", tenant=tenant_a).status_code == 200

    assert warm.captured_queries, "the list itself runs SQL: the capture must see it"
    assert _auth_queries(warm.captured_queries) == []
