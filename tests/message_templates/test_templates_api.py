"""The templates API: create, read, list, change, delete; checks of bodies and variables."""

from __future__ import annotations

import pytest

from engium.ids import is_valid_id
from message_templates.models import Template
from tests.builders import list_ok, row_ids
from tests.conftest import ApiClient, TenantFixture, error_of
from tests.message_templates.helpers import ORDER_BODIES, create_template_ok


def test_create_then_read_a_template(api: ApiClient, tenant_a: TenantFixture) -> None:
    created = create_template_ok(api, tenant_a, examples={"first_name": "Ana"})
    assert is_valid_id(created["id"], "tpl")
    assert created["name"] == "order_update" and created["category"] == "utility"
    assert created["bodies"] == ORDER_BODIES
    assert created["variables"] == ["first_name", "order_id"]
    assert created["examples"] == {"first_name": "Ana"}
    # no WhatsApp Cloud business account reviews templates: approved at once
    assert {lang: v["status"] for lang, v in created["languages"].items()} == {
        lang: "approved" for lang in ORDER_BODIES
    }
    detail = api.get(f"templates/{created['id']}", tenant=tenant_a)
    assert detail.status_code == 200 and detail.json() == created
    # Arabic and Hindi come back byte for byte
    assert detail.json()["bodies"]["ar"].encode() == ORDER_BODIES["ar"].encode()
    assert detail.json()["bodies"]["hi"].encode() == ORDER_BODIES["hi"].encode()


@pytest.mark.parametrize(
    ("bodies", "field", "words"),
    [
        (
            {"en": "Hi {{first_name}}", "es": "Hola {{nombre}}"},
            "bodies.es",
            ["lacks first_name", "adds nombre"],
        ),
        ({"en": "Hi {{first_name}}", "fr": "Bonjour"}, "bodies.fr", ["lacks first_name"]),
        ({"en": "Hi", "de": "Hallo {{name}}"}, "bodies.de", ["adds name"]),
        ({"en": "Hi {{first name}}"}, "bodies.en", ["not a valid variable"]),
        ({"en": "Hi {{1st}}"}, "bodies.en", ["not a valid variable"]),
        ({"en": "Hi {{name}"}, "bodies.en", ["Unbalanced"]),
        ({"en": "   "}, "bodies.en", ["empty"]),
        ({}, "bodies", ["at least one language"]),
        ({"xx": "Hi"}, "bodies.xx", ["Not a supported language"]),
        ({"en": "x" * 1025}, "bodies.en", ["1024"]),
        ({"en": 5}, "bodies.en", []),
    ],
)
def test_bodies_are_checked_with_the_field_named(
    api: ApiClient, tenant_a: TenantFixture, bodies: object, field: str, words: list[str]
) -> None:
    response = api.post(
        "templates",
        tenant=tenant_a,
        json_body={"name": "welcome", "category": "marketing", "bodies": bodies},
    )
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert error["field"] == field, error
    for word in words:
        assert word in error["message"] or any(
            word in detail["message"] for detail in error.get("details", [])
        ), error
    with tenant_a.schema():
        assert not Template.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Order Update"}, "name"),
        ({"name": ""}, "name"),
        ({"category": "transactional"}, "category"),
        ({"examples": {"nope": "x"}}, "examples.nope"),
        ({"status": "approved"}, "status"),
    ],
)
def test_other_fields_are_checked(
    api: ApiClient, tenant_a: TenantFixture, body: dict[str, object], field: str
) -> None:
    payload = {"name": "welcome", "category": "utility", "bodies": {"en": "Hi {{name}}"}, **body}
    response = api.post("templates", tenant=tenant_a, json_body=payload)
    assert response.status_code == 400
    assert error_of(response)["field"] == field


def test_names_are_unique_among_live_templates(api: ApiClient, tenant_a: TenantFixture) -> None:
    first = create_template_ok(api, tenant_a)
    again = api.post(
        "templates",
        tenant=tenant_a,
        json_body={"name": "order_update", "category": "utility", "bodies": {"en": "Hi"}},
    )
    assert again.status_code == 400 and error_of(again)["field"] == "name"
    assert api.delete(f"templates/{first['id']}", tenant=tenant_a).status_code == 204
    create_template_ok(api, tenant_a, bodies={"en": "Hi"})  # the name is free again


def test_update_sets_and_removes_bodies_and_checks_variables_again(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    created = create_template_ok(api, tenant_a)
    path = f"templates/{created['id']}"
    changed = api.patch(
        path,
        tenant=tenant_a,
        json_body={
            "category": "marketing",
            "bodies": {"fr": "Bonjour {{first_name}}, commande {{order_id}}.", "hi": None},
        },
    )
    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert body["category"] == "marketing"
    assert set(body["bodies"]) == {"en", "es", "pt_BR", "ar", "fr"}
    assert body["languages"]["fr"]["status"] == "approved"

    mismatch = api.patch(path, tenant=tenant_a, json_body={"bodies": {"es": "Hola {{nombre}}"}})
    assert mismatch.status_code == 400 and error_of(mismatch)["field"] == "bodies.es"
    renamed = api.patch(path, tenant=tenant_a, json_body={"name": "other"})
    assert renamed.status_code == 400 and error_of(renamed)["field"] == "name"
    emptied = api.patch(path, tenant=tenant_a, json_body={"bodies": dict.fromkeys(body["bodies"])})
    assert emptied.status_code == 400 and error_of(emptied)["field"] == "bodies"
    # nothing of the refused changes stuck
    assert api.get(path, tenant=tenant_a).json()["bodies"] == body["bodies"]

    # all languages change their variables together: allowed
    together = api.patch(
        path,
        tenant=tenant_a,
        json_body={"bodies": {lang: f"{lang}: {{{{code}}}}" for lang in body["bodies"]}},
    )
    assert together.status_code == 200 and together.json()["variables"] == ["code"]


def test_list_paginates_and_filters(api: ApiClient, tenant_a: TenantFixture) -> None:
    one = create_template_ok(api, tenant_a, name="one", bodies={"en": "One"})
    two = create_template_ok(api, tenant_a, name="two", category="marketing", bodies={"es": "Dos"})
    three = create_template_ok(api, tenant_a, name="three", bodies={"en": "Three", "es": "Tres"})
    page = list_ok(api, tenant_a, "templates", limit=2)
    assert row_ids(page) == [three["id"], two["id"]] and page["has_more"]
    rest = list_ok(api, tenant_a, "templates", cursor=page["next_cursor"])
    assert row_ids(rest) == [one["id"]] and not rest["has_more"]
    assert row_ids(list_ok(api, tenant_a, "templates", category="marketing")) == [two["id"]]
    assert row_ids(list_ok(api, tenant_a, "templates", language="es")) == [three["id"], two["id"]]
    assert row_ids(list_ok(api, tenant_a, "templates", name="one")) == [one["id"]]
    assert row_ids(list_ok(api, tenant_a, "templates", status="pending")) == []
    bad = api.get("templates", tenant=tenant_a, query={"language": "xx"})
    assert bad.status_code == 400 and error_of(bad)["field"] == "language"


def test_deleted_templates_are_gone_from_the_api(api: ApiClient, tenant_a: TenantFixture) -> None:
    created = create_template_ok(api, tenant_a)
    path = f"templates/{created['id']}"
    assert api.delete(path, tenant=tenant_a).status_code == 204
    for response in (
        api.get(path, tenant=tenant_a),
        api.delete(path, tenant=tenant_a),
        api.patch(path, tenant=tenant_a, json_body={"category": "marketing"}),
    ):
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert row_ids(list_ok(api, tenant_a, "templates")) == []
    with tenant_a.schema():
        assert Template.objects.get(pk=created["id"]).deleted_at is not None  # kept


def test_tenants_never_see_each_others_templates(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    created = create_template_ok(api, tenant_a)
    path = f"templates/{created['id']}"
    for response in (
        api.get(path, tenant=tenant_b),
        api.patch(path, tenant=tenant_b, json_body={"category": "marketing"}),
        api.delete(path, tenant=tenant_b),
    ):
        assert response.status_code == 404
    assert row_ids(list_ok(api, tenant_b, "templates")) == []
    # the same name is free in the other tenant; and a send by the other's ID is not found
    create_template_ok(api, tenant_b)
    sent = api.send(tenant_b, message={"template": {"id": created["id"]}})
    assert sent.status_code == 400 and error_of(sent)["code"] == "template_not_found"
    assert api.get(path, tenant=tenant_a).status_code == 200
