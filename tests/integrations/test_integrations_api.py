"""Integrations by API: connect, defaults and routing, validation, reading, encryption at rest."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from engium.encryption import decrypt_text
from engium.ids import new_id
from integrations.models import Integration
from integrations.providers.registry import get_provider
from integrations.providers.sandbox import SandboxProvider
from tests.builders import send_ok
from tests.conftest import ApiClient, TenantFixture, error_of, make_tenant

_FIELDS = ["id", "channel", "provider", "status", "is_default"]
INTEGRATION_FIELDS = {*_FIELDS, "callback_urls", "config"}
TO = "+15550106001"


@pytest.fixture
def fresh(db: None) -> TenantFixture:
    """A tenant of its own with no integrations, so the session tenants stay untouched."""
    return make_tenant("Integrations test", channels=())


def _create(
    api: ApiClient, tenant: TenantFixture, channel: str = "whatsapp", **body: Any
) -> dict[str, Any]:
    payload = {"channel": channel, "provider": "sandbox", "config": {}, **body}
    response = api.post("integrations", tenant=tenant, json_body=payload)
    assert response.status_code == 201, response.content
    return response.json()


def _get(api: ApiClient, tenant: TenantFixture, integration_id: str) -> dict[str, Any]:
    response = api.get(f"integrations/{integration_id}", tenant=tenant)
    assert response.status_code == 200, response.content
    return response.json()


def _defaults(api: ApiClient, tenant: TenantFixture, channel: str) -> list[str]:
    rows = api.get("integrations", tenant=tenant).json()["data"]
    return [row["id"] for row in rows if row["channel"] == channel and row["is_default"]]


# ------------------------------------------------------------------ create


def test_create_answers_the_integration(api: ApiClient, fresh: TenantFixture) -> None:
    config = {"timetable": {"delivered": 3}}
    body = {"channel": "sms", "provider": "sandbox", "config": config}
    response = api.post("integrations", tenant=fresh, json_body=body)

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= INTEGRATION_FIELDS
    assert body["id"].startswith("intg_")
    assert (body["channel"], body["provider"], body["status"]) == ("sms", "sandbox", "active")
    assert body["is_default"] is True
    assert body["config"] == {"timetable": {"delivered": 3}}
    urls = body["callback_urls"]
    assert isinstance(urls, dict) and urls
    for url in urls.values():
        parts = urlsplit(url)
        assert parts.scheme in {"http", "https"} and parts.netloc, url
        assert url.startswith(settings.ENGIUM_PUBLIC_URL + "/"), url
        assert body["id"] in url
    assert _get(api, fresh, body["id"]) == body


def test_callback_urls_follow_public_url(api: ApiClient, fresh: TenantFixture) -> None:
    with override_settings(ENGIUM_PUBLIC_URL="https://engium.example.com"):
        body = _create(api, fresh)
    assert all(
        url.startswith("https://engium.example.com/api/") for url in body["callback_urls"].values()
    )


def test_first_of_a_channel_is_default_second_is_not(api: ApiClient, fresh: TenantFixture) -> None:
    first = _create(api, fresh, "whatsapp")
    second = _create(api, fresh, "whatsapp")
    sms = _create(api, fresh, "sms", is_default=False)  # first of its channel: default anyway

    assert (first["is_default"], second["is_default"], sms["is_default"]) == (True, False, True)
    assert _defaults(api, fresh, "whatsapp") == [first["id"]]
    assert _defaults(api, fresh, "sms") == [sms["id"]]


def test_new_default_takes_over(api: ApiClient, fresh: TenantFixture) -> None:
    # given a channel whose sends went through the first integration (routing now cached)
    first = _create(api, fresh)
    assert send_ok(api, fresh, recipient=TO)["integration_id"] == first["id"]

    # when a second one is connected as default
    second = _create(api, fresh, is_default=True)

    # then it alone is default, and sends go through it
    assert second["is_default"] is True
    assert _get(api, fresh, first["id"])["is_default"] is False
    assert _defaults(api, fresh, "whatsapp") == [second["id"]]
    assert send_ok(api, fresh, recipient="+15550106002")["integration_id"] == second["id"]


def test_patch_is_default_moves_the_default(api: ApiClient, fresh: TenantFixture) -> None:
    first, second = _create(api, fresh), _create(api, fresh)

    response = api.patch(
        f"integrations/{second['id']}", tenant=fresh, json_body={"is_default": True}
    )

    assert response.status_code == 200, response.content
    assert response.json()["is_default"] is True
    assert _defaults(api, fresh, "whatsapp") == [second["id"]]
    assert _get(api, fresh, first["id"])["is_default"] is False


# ------------------------------------------------------------------ disable, delete, routing


def test_disabling_the_default_promotes_another_active_one(
    api: ApiClient, fresh: TenantFixture
) -> None:
    # given three integrations, the oldest of the others disabled
    default, disabled, active = _create(api, fresh), _create(api, fresh), _create(api, fresh)
    api.patch(f"integrations/{disabled['id']}", tenant=fresh, json_body={"status": "disabled"})
    assert send_ok(api, fresh, recipient=TO)["integration_id"] == default["id"]

    # when the default is disabled
    response = api.patch(
        f"integrations/{default['id']}", tenant=fresh, json_body={"status": "disabled"}
    )

    # then the remaining active one is default, and sends go through it
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["is_default"]) == ("disabled", False)
    assert _defaults(api, fresh, "whatsapp") == [active["id"]]
    assert send_ok(api, fresh, recipient="+15550106003")["integration_id"] == active["id"]


def test_disabling_a_non_default_keeps_the_default(api: ApiClient, fresh: TenantFixture) -> None:
    default, other = _create(api, fresh), _create(api, fresh)
    api.patch(f"integrations/{other['id']}", tenant=fresh, json_body={"status": "disabled"})
    assert _defaults(api, fresh, "whatsapp") == [default["id"]]
    assert _get(api, fresh, other["id"])["status"] == "disabled"


def test_disabling_the_only_integration_stops_sends_until_enabled(
    api: ApiClient, fresh: TenantFixture
) -> None:
    only = _create(api, fresh)
    send_ok(api, fresh, recipient=TO)

    api.patch(f"integrations/{only['id']}", tenant=fresh, json_body={"status": "disabled"})
    refused = api.send(fresh, recipient=TO)
    assert refused.status_code == 400
    assert error_of(refused)["code"] == "channel_not_configured"

    api.patch(f"integrations/{only['id']}", tenant=fresh, json_body={"status": "active"})
    assert send_ok(api, fresh, recipient=TO)["integration_id"] == only["id"]


def test_connecting_after_the_default_was_disabled_routes_sends(
    api: ApiClient, fresh: TenantFixture
) -> None:
    """A channel with an active integration is configured, whatever was disabled before.

    docs/api.md#channel.
    """
    # given the channel's only integration was disabled
    old = _create(api, fresh)
    api.patch(f"integrations/{old['id']}", tenant=fresh, json_body={"status": "disabled"})

    # when a new one is connected
    new = _create(api, fresh)

    # then it is the channel's (active) default and sends go through it
    assert new["is_default"] is True
    assert send_ok(api, fresh, recipient=TO)["integration_id"] == new["id"]


def test_deleting_the_default_promotes_the_oldest_remaining(
    api: ApiClient, fresh: TenantFixture
) -> None:
    # given three integrations and an open conversation through the default
    default, oldest, newest = _create(api, fresh), _create(api, fresh), _create(api, fresh)
    open_conversation = send_ok(api, fresh, recipient=TO)
    assert open_conversation["integration_id"] == default["id"]

    # when the default is deleted
    response = api.delete(f"integrations/{default['id']}", tenant=fresh)

    # then
    assert response.status_code == 204, response.content
    assert api.get(f"integrations/{default['id']}", tenant=fresh).status_code == 404
    assert _defaults(api, fresh, "whatsapp") == [oldest["id"]]
    assert _get(api, fresh, newest["id"])["is_default"] is False
    new_conversation = send_ok(api, fresh, recipient="+15550106004")
    assert new_conversation["integration_id"] == oldest["id"]
    again = send_ok(
        api, fresh, recipient=TO
    )  # the open conversation continues through the new default
    assert (again["id"], again["integration_id"]) == (open_conversation["id"], oldest["id"])


def test_deleting_the_last_integration_stops_sends(api: ApiClient, fresh: TenantFixture) -> None:
    # given a send that cached the routing
    only = _create(api, fresh, "sms")
    send_ok(api, fresh, recipient=TO, channel="sms")

    # when the only integration is deleted
    assert api.delete(f"integrations/{only['id']}", tenant=fresh).status_code == 204

    # then the channel is no longer configured
    response = api.send(fresh, recipient=TO, channel="sms")
    assert response.status_code == 400, response.content
    error = error_of(response)
    assert (error["code"], error["field"]) == ("channel_not_configured", "channel")
    assert api.get("integrations", tenant=fresh).json()["data"] == []


def test_deleting_a_non_default_keeps_the_default(api: ApiClient, fresh: TenantFixture) -> None:
    default, other = _create(api, fresh), _create(api, fresh)
    assert api.delete(f"integrations/{other['id']}", tenant=fresh).status_code == 204
    assert _defaults(api, fresh, "whatsapp") == [default["id"]]


def test_channels_route_independently(api: ApiClient, fresh: TenantFixture) -> None:
    whatsapp = _create(api, fresh, "whatsapp")
    response = api.send(fresh, recipient=TO, channel="voice")
    assert response.status_code == 400
    assert error_of(response)["code"] == "channel_not_configured"
    assert send_ok(api, fresh, recipient=TO)["integration_id"] == whatsapp["id"]


# ------------------------------------------------------------------ validation


class SmsOnlyProvider(SandboxProvider):
    slug = "smsonly"
    channels = frozenset({"sms"})


@pytest.fixture
def sms_only_provider() -> Iterator[None]:
    providers = {**settings.ENGIUM_PROVIDERS, "smsonly": f"{__name__}.SmsOnlyProvider"}
    with override_settings(ENGIUM_PROVIDERS=providers):
        get_provider.cache_clear()
        yield
    get_provider.cache_clear()


def test_provider_not_serving_the_channel(
    api: ApiClient, fresh: TenantFixture, sms_only_provider: None
) -> None:
    response = api.post(
        "integrations",
        tenant=fresh,
        json_body={"channel": "voice", "provider": "smsonly", "config": {}},
    )
    assert response.status_code == 400, response.content
    assert (error_of(response)["code"], error_of(response)["field"]) == (
        "validation_error",
        "channel",
    )
    assert _create(api, fresh, "sms", provider="smsonly")["provider"] == "smsonly"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "nexmo"}, "provider"),
        ({"provider": ""}, "provider"),
        ({"provider": None}, "provider"),
        ({"channel": "telegram"}, "channel"),
        ({"channel": None}, "channel"),
        ({"is_default": "maybe"}, "is_default"),
        ({"config": [1]}, "config"),
        ({"config": "timetable"}, "config"),
        ({"config": {"speed": 1}}, "config"),
        ({"config": {"timetable": 5}}, "config"),
        ({"config": {"timetable": [1, 2, 3]}}, "config"),
        ({"config": {"timetable": "fast"}}, "config"),
        ({"config": {"timetable": {"delivered": -1}}}, "config"),
        ({"config": {"timetable": {"sent": -0.5}}}, "config"),
        ({"config": {"timetable": {"read": 3601}}}, "config"),
        ({"config": {"timetable": {"read": "2"}}}, "config"),
        ({"config": {"timetable": {"read": True}}}, "config"),
        ({"config": {"timetable": {"read": None}}}, "config"),
        ({"config": {"timetable": {"bounced": 1}}}, "config"),
    ],
)
def test_create_validation(
    api: ApiClient, fresh: TenantFixture, body: dict[str, Any], field: str
) -> None:
    payload = {"channel": "whatsapp", "provider": "sandbox", "config": {}, **body}
    payload = {key: value for key, value in payload.items() if value is not None}

    response = api.post("integrations", tenant=fresh, json_body=payload)

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert error.get("field"), error
    assert error["field"].split(".")[0] == field
    assert api.get("integrations", tenant=fresh).json()["data"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "paused"}, "status"),
        ({"config": {"timetable": {"sent": -1}}}, "config"),
        ({"config": {"unknown": 1}}, "config"),
        ({"is_default": "yes please"}, "is_default"),
    ],
)
def test_update_validation(
    api: ApiClient, fresh: TenantFixture, body: dict[str, Any], field: str
) -> None:
    created = _create(api, fresh, config={"timetable": {"sent": 1}})

    response = api.patch(f"integrations/{created['id']}", tenant=fresh, json_body=body)

    assert response.status_code == 400, response.content
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert error["field"].split(".")[0] == field
    assert _get(api, fresh, created["id"]) == created


def test_update_config_and_name(api: ApiClient, fresh: TenantFixture) -> None:
    created = _create(api, fresh)
    response = api.patch(
        f"integrations/{created['id']}",
        tenant=fresh,
        json_body={"name": "Main line", "config": {"timetable": {"read": 10}}},
    )
    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["config"]) == (
        "Main line",
        {"timetable": {"read": 10}},
    )
    assert _get(api, fresh, created["id"])["config"] == {"timetable": {"read": 10}}


# ------------------------------------------------------------------ read, 404


def test_list_and_detail(api: ApiClient, fresh: TenantFixture) -> None:
    created = [_create(api, fresh, channel) for channel in ("whatsapp", "sms", "voice", "whatsapp")]

    response = api.get("integrations", tenant=fresh)

    assert response.status_code == 200, response.content
    body = response.json()
    assert sorted(row["id"] for row in body["data"]) == sorted(row["id"] for row in created)
    assert body["has_more"] is False
    for row in created:
        assert _get(api, fresh, row["id"])["channel"] == row["channel"]


def test_list_shape_matches_every_other_list(api: ApiClient, fresh: TenantFixture) -> None:
    """Lists share one cursor-paginated shape, {data, has_more, next_cursor}.

    docs/api.md#lists-and-pagination.
    """
    _create(api, fresh)
    body = api.get("integrations", tenant=fresh).json()
    assert set(body) == {"data", "has_more", "next_cursor"}, body
    assert body["next_cursor"] is None


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
@pytest.mark.parametrize("integration_id", ["nope", new_id("intg")])
def test_unknown_integration_is_not_found(
    api: ApiClient, tenant_a: TenantFixture, method: str, integration_id: str
) -> None:
    body = {"name": "x"} if method == "patch" else None
    response = getattr(api, method)(
        f"integrations/{integration_id}", tenant=tenant_a, json_body=body
    )
    assert response.status_code == 404, response.content
    assert error_of(response)["code"] == "not_found"


# ------------------------------------------------------------------ encryption at rest


def test_config_is_encrypted_at_rest(api: ApiClient, fresh: TenantFixture) -> None:
    # given
    created = _create(api, fresh, config={"timetable": {"delivered": 3}})

    # when reading the column itself
    with fresh.schema(), connection.cursor() as cursor:
        cursor.execute("SELECT config FROM integrations_integration WHERE id = %s", [created["id"]])
        (raw,) = cursor.fetchone()

    # then it holds no plaintext, yet decrypts to the config the API shows
    assert isinstance(raw, str) and raw
    for plaintext in ("timetable", "delivered", "{"):
        assert plaintext not in raw
    assert decrypt_text(raw).replace(" ", "") == '{"timetable":{"delivered":3.0}}'
    assert _get(api, fresh, created["id"])["config"] == {"timetable": {"delivered": 3}}


# ------------------------------------------------------------------ robustness


def test_integration_of_an_uninstalled_provider_does_not_break_reads(
    api: ApiClient, fresh: TenantFixture
) -> None:
    """A row whose provider is no longer installed (removed from settings, typed in admin).

    Delivery already handles it (`provider_unknown`); reading must not answer
    500 (docs/api.md#never-a-500).
    """
    # given
    kept = _create(api, fresh, "sms")
    with fresh.schema():
        retired = Integration.objects.create(
            channel="whatsapp", provider="retired", config={}, is_default=True
        )

    # when / then
    listed = api.get("integrations", tenant=fresh)
    assert listed.status_code == 200, listed.content
    assert {row["id"] for row in listed.json()["data"]} == {kept["id"], retired.pk}
    detail = api.get(f"integrations/{retired.pk}", tenant=fresh)
    assert detail.status_code == 200, detail.content
    assert detail.json()["provider"] == "retired"
    assert api.delete(f"integrations/{retired.pk}", tenant=fresh).status_code == 204
