"""The API keys API: a tenant lists, creates and revokes its own keys.

The contract: docs/api.md#api-keys.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tenants.models import ApiKey, Tenant
from tenants.services import create_api_key
from tests.conftest import ApiClient, TenantFixture, error_of

FIELDS = {"id", "name", "prefix", "created_at", "last_used_at", "revoked_at"}
KEY_ID = re.compile(r"^key_[0-9a-hjkmnp-tv-z]{26}$")


def auth(key: str, tenant_id: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}", "HTTP_X_TENANT_ID": tenant_id}


def as_tenant(tenant: TenantFixture, raw_key: str) -> TenantFixture:
    """The tenant fixture, calling with another of its keys."""
    return TenantFixture(tenant=tenant.tenant, api_key=raw_key)


def create(api: ApiClient, tenant: TenantFixture, name: str = "CI") -> dict[str, Any]:
    response = api.post("api-keys", tenant=tenant, json_body={"name": name})
    assert response.status_code == 201, response.content
    return dict(response.json())


def listed(api: ApiClient, tenant: TenantFixture, **query: Any) -> dict[str, Any]:
    response = api.get("api-keys", tenant=tenant, query=query)
    assert response.status_code == 200, response.content
    return dict(response.json())


def secrets_of(tenant: TenantFixture) -> list[str]:
    return list(ApiKey.objects.filter(tenant=tenant.tenant).values_list("key_hash", flat=True))


# ------------------------------------------------------------------ create


def test_a_new_key_is_shown_once_and_works_at_once(api: ApiClient, tenant_a: TenantFixture) -> None:
    created = create(api, tenant_a, name="CI pipeline")

    assert set(created) == FIELDS | {"key"}
    assert KEY_ID.match(created["id"]), created["id"]
    assert created["name"] == "CI pipeline"
    assert created["key"].startswith("egk_") and created["key"][:12] == created["prefix"]
    assert created["last_used_at"] is None and created["revoked_at"] is None
    # it authenticates at once, for its own tenant only
    assert api.get("conversations", headers=auth(created["key"], tenant_a.id)).status_code == 200
    # and is never shown again, nor is any key's hash
    detail = api.get(f"api-keys/{created['id']}", tenant=tenant_a)
    page = api.get("api-keys", tenant=tenant_a)
    for response in (detail, page):
        assert response.status_code == 200
        assert created["key"] not in response.content.decode()
        for key_hash in secrets_of(tenant_a):
            assert key_hash not in response.content.decode()
    assert set(detail.json()) == FIELDS
    row = ApiKey.objects.get(pk=created["id"])
    assert row.tenant_id == tenant_a.tenant.pk and created["key"] not in {row.key_hash, row.prefix}


def test_a_new_key_belongs_to_the_caller_s_tenant_only(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    created = create(api, tenant_a)
    response = api.get("conversations", headers=auth(created["key"], tenant_b.id))
    assert response.status_code == 401
    assert created["id"] not in str(listed(api, tenant_b))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 7}, "name"),
        ({"name": None}, "name"),
        ({"name": "CI", "scopes": ["all"]}, "scopes"),
        (["CI"], None),
    ],
    ids=["missing", "empty", "blank", "too long", "a number", "null", "unknown field", "a list"],
)
def test_create_validates_its_body(
    api: ApiClient, tenant_a: TenantFixture, body: Any, field: str | None
) -> None:
    before = ApiKey.objects.filter(tenant=tenant_a.tenant).count()
    response = api.post("api-keys", tenant=tenant_a, json_body=body)
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == "validation_error"
    if field:
        assert error["field"] == field
    assert ApiKey.objects.filter(tenant=tenant_a.tenant).count() == before


def test_create_refuses_what_is_not_json(api: ApiClient, tenant_a: TenantFixture) -> None:
    assert api.post("api-keys", tenant=tenant_a, raw="{").status_code == 400
    response = api.post("api-keys", tenant=tenant_a, raw="name=CI", content_type="text/plain")
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"


def test_a_name_of_100_characters_is_kept(api: ApiClient, tenant_a: TenantFixture) -> None:
    assert create(api, tenant_a, name="é" * 100)["name"] == "é" * 100


# ------------------------------------------------------------------ list and detail


def test_the_list_holds_the_tenant_s_keys_newest_first(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    first = create(api, tenant_a, name="first")
    second = create(api, tenant_a, name="second")
    theirs = create(api, tenant_b, name="theirs")

    page = listed(api, tenant_a, limit=100)

    ids = [item["id"] for item in page["data"]]
    assert ids[:2] == [second["id"], first["id"]]
    assert theirs["id"] not in ids
    assert set(ids) == set(
        ApiKey.objects.filter(tenant=tenant_a.tenant).values_list("pk", flat=True)
    )
    for item in page["data"]:
        assert set(item) == FIELDS
    assert page["has_more"] is False and page["next_cursor"] is None


def test_the_list_pages_with_cursors(api: ApiClient, tenant_a: TenantFixture) -> None:
    made = [create(api, tenant_a, name=f"key {n}")["id"] for n in range(3)]
    total = ApiKey.objects.filter(tenant=tenant_a.tenant).count()

    seen: list[str] = []
    query: dict[str, Any] = {"limit": 2}
    while True:
        page = listed(api, tenant_a, **query)
        seen += [item["id"] for item in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        query = {"limit": 2, "cursor": page["next_cursor"]}

    assert len(seen) == len(set(seen)) == total
    assert seen[:3] == made[::-1]
    assert seen == sorted(seen, reverse=True)


@pytest.mark.parametrize(
    "query",
    [{"cursor": "msg_00000000000000000000000000"}, {"cursor": "x"}, {"limit": 0}, {"limit": 101}],
    ids=["cursor of messages", "not a cursor", "limit 0", "limit 101"],
)
def test_the_list_validates_its_query(
    api: ApiClient, tenant_a: TenantFixture, query: dict[str, Any]
) -> None:
    response = api.get("api-keys", tenant=tenant_a, query=query)
    assert response.status_code == 400
    assert error_of(response)["code"] == "validation_error"


def test_a_key_s_last_use_is_shown(api: ApiClient, tenant_a: TenantFixture) -> None:
    created = create(api, tenant_a)
    assert api.get("conversations", headers=auth(created["key"], tenant_a.id)).status_code == 200
    detail = api.get(f"api-keys/{created['id']}", tenant=tenant_a).json()
    assert detail["last_used_at"] is not None


@pytest.mark.parametrize(
    "key_id",
    ["key_00000000000000000000000000", "key_1", "msg_00000000000000000000000000", "1"],
    ids=["unknown", "malformed", "another kind", "an integer"],
)
def test_an_unknown_key_is_404(api: ApiClient, tenant_a: TenantFixture, key_id: str) -> None:
    for response in (
        api.get(f"api-keys/{key_id}", tenant=tenant_a),
        api.post(f"api-keys/{key_id}/revoke", tenant=tenant_a),
    ):
        assert response.status_code == 404, response.content
        assert error_of(response)["code"] == "not_found"


def test_another_tenant_s_key_is_404_and_stays_valid(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    theirs = create(api, tenant_b, name="B's")
    unknown = api.get("api-keys/key_00000000000000000000000000", tenant=tenant_a)

    detail = api.get(f"api-keys/{theirs['id']}", tenant=tenant_a)
    revoke = api.post(f"api-keys/{theirs['id']}/revoke", tenant=tenant_a)

    for response in (detail, revoke):
        assert response.status_code == 404
        assert response.content == unknown.content  # as if it did not exist
    assert ApiKey.objects.get(pk=theirs["id"]).revoked_at is None
    assert api.get("conversations", headers=auth(theirs["key"], tenant_b.id)).status_code == 200


# ------------------------------------------------------------------ revoke


def test_revoking_a_key_refuses_it_from_the_next_request(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    created = create(api, tenant_a, name="to revoke")
    headers = auth(created["key"], tenant_a.id)
    assert api.get("conversations", headers=headers).status_code == 200  # cached as valid

    response = api.post(f"api-keys/{created['id']}/revoke", tenant=tenant_a)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == FIELDS and body["id"] == created["id"] and body["revoked_at"]
    assert api.get("conversations", headers=headers).status_code == 401
    assert api.get("conversations", tenant=tenant_a).status_code == 200  # other keys work
    # revoked, not deleted: it is still listed and readable, with its revocation time
    detail = api.get(f"api-keys/{created['id']}", tenant=tenant_a).json()
    assert detail["revoked_at"] == body["revoked_at"]
    assert created["id"] in [item["id"] for item in listed(api, tenant_a, limit=100)["data"]]


def test_revoking_twice_keeps_the_first_time(api: ApiClient, tenant_a: TenantFixture) -> None:
    created = create(api, tenant_a)
    first = api.post(f"api-keys/{created['id']}/revoke", tenant=tenant_a).json()
    again = api.post(f"api-keys/{created['id']}/revoke", tenant=tenant_a)
    assert again.status_code == 200
    assert again.json() == first


def test_a_key_may_revoke_itself(api: ApiClient, tenant_a: TenantFixture) -> None:
    issued = create_api_key(Tenant.objects.get(pk=tenant_a.tenant.pk), name="self")
    caller = as_tenant(tenant_a, issued.raw_key)

    response = api.post(f"api-keys/{issued.api_key.pk}/revoke", tenant=caller)

    assert response.status_code == 200, response.content
    refused = api.get("api-keys", tenant=caller)
    assert refused.status_code == 401
    assert error_of(refused)["code"] == "authentication_failed"


def test_revoke_takes_no_body(api: ApiClient, tenant_a: TenantFixture) -> None:
    created = create(api, tenant_a)
    response = api.post(
        f"api-keys/{created['id']}/revoke", tenant=tenant_a, raw="x", content_type="text/plain"
    )
    assert response.status_code == 415
    assert ApiKey.objects.get(pk=created["id"]).revoked_at is None


def test_keys_are_never_deleted(api: ApiClient, tenant_a: TenantFixture) -> None:
    created = create(api, tenant_a)
    response = api.delete(f"api-keys/{created['id']}", tenant=tenant_a)
    assert response.status_code == 405
    assert ApiKey.objects.filter(pk=created["id"], revoked_at__isnull=True).exists()


# ------------------------------------------------------------------ authentication


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "api-keys"),
        ("post", "api-keys"),
        ("get", "api-keys/key_00000000000000000000000000"),
        ("post", "api-keys/key_00000000000000000000000000/revoke"),
    ],
)
def test_every_endpoint_needs_a_valid_key(
    api: ApiClient, tenant_a: TenantFixture, method: str, path: str
) -> None:
    before = ApiKey.objects.count()
    response = api.request(
        method, path, headers=auth("egk_" + "x" * 40, tenant_a.id), json_body={"name": "x"}
    )
    assert response.status_code == 401
    assert ApiKey.objects.count() == before
