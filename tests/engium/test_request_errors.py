"""Malformed, oversized and misdirected requests: always a JSON error, never a 500.

The contract: docs/api.md#request-errors.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from conversations.models import Conversation, Message
from engium.api.parsers import StrictJSONParser
from engium.exceptions import MalformedJSON, PayloadTooLarge
from engium.middleware import DRAIN_LIMIT_BYTES, ApiGuardMiddleware
from tests.conftest import ApiClient, TenantFixture, error_of
from webhooks.models import Event

SEND = "conversations/send"
SEND_PATH = "/api/v1/conversations/send"
LIMIT = 1024 * 1024
GENERATED_ID = re.compile(r"^req_[0-9a-f]{32}$")


def example(**message: Any) -> dict[str, Any]:
    return {"recipient": "+15550102999", "channel": "sms", "message": message or {"text": "Hello!"}}


def counts(tenant: TenantFixture) -> tuple[int, int, int]:
    with tenant.schema():
        return Conversation.objects.count(), Message.objects.count(), Event.objects.count()


def post_raw(api: ApiClient, tenant: TenantFixture, raw: str | bytes, **kwargs: Any) -> Any:
    return api.post(SEND, tenant=tenant, raw=raw, **kwargs)


def test_the_limit_is_one_mebibyte() -> None:
    assert settings.ENGIUM_MAX_BODY_BYTES == LIMIT


# ------------------------------------------------------------------ JSON syntax


@pytest.mark.parametrize(
    "raw",
    [
        "{",
        '{"recipient": }',
        "{'recipient': '+15550102999'}",
        '{"a": 1,}',
        '{"a": 1} {"b": 2}',
        "nul",
        '"unterminated',
        '{"a": 01}',
        "   ",
        "\n",
        '{"a": "\\x41"}',
        '{"a": "tab\there"}',
    ],
)
def test_malformed_json_is_400_malformed_json(
    api: ApiClient, tenant_a: TenantFixture, raw: str
) -> None:
    before = counts(tenant_a)
    response = post_raw(api, tenant_a, raw)
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == "malformed_json"
    assert counts(tenant_a) == before


@pytest.mark.parametrize(
    "raw", ["[]", '[{"recipient": "+15550102999"}]', '"send"', "42", "-1.5", "true", "null"]
)
def test_json_that_is_not_an_object_is_a_validation_error(
    api: ApiClient, tenant_a: TenantFixture, raw: str
) -> None:
    before = counts(tenant_a)
    response = post_raw(api, tenant_a, raw)
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == "validation_error"
    assert counts(tenant_a) == before


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("where", ["recipient", "text"])
def test_nan_and_infinity_literals_are_refused(
    api: ApiClient, tenant_a: TenantFixture, literal: str, where: str
) -> None:
    raw = json.dumps(example()).replace(
        '"+15550102999"' if where == "recipient" else '"Hello!"', literal
    )
    response = post_raw(api, tenant_a, raw)
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == "malformed_json"


def test_a_number_too_long_to_convert_is_400(api: ApiClient, tenant_a: TenantFixture) -> None:
    response = post_raw(api, tenant_a, '{"recipient": ' + "9" * 5000 + "}")
    assert response.status_code == 400, response.content
    error_of(response)


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(example(text="@@")).encode().replace(b"@@", b"\xff"),
        json.dumps(example(text="@@")).encode().replace(b"@@", b"\xc3\x28"),
        json.dumps(example(text="@@")).encode().replace(b"@@", b"\xc0\xaf"),  # overlong "/"
        json.dumps(example(text="@@")).encode().replace(b"@@", b"\xed\xa0\x80"),  # CESU-8
        json.dumps(example()).encode("utf-16"),
        b"\x80\x81\x82",
    ],
)
def test_invalid_utf8_is_400(api: ApiClient, tenant_a: TenantFixture, raw: bytes) -> None:
    before = counts(tenant_a)
    response = post_raw(api, tenant_a, raw)
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == "malformed_json"
    assert counts(tenant_a) == before


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000,
        '{"a":' * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"recipient": "+15550102999", "channel": "sms", "message": '
        + "[" * 50_000
        + "]" * 50_000
        + "}",
    ],
)
def test_deeply_nested_json_is_400_not_500(
    api: ApiClient, tenant_a: TenantFixture, raw: str
) -> None:
    response = post_raw(api, tenant_a, raw)
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] in {"malformed_json", "validation_error"}


@pytest.mark.parametrize("where", ["recipient", "unknown_key", "agent_role_id"])
def test_no_nesting_depth_below_the_parser_limit_yields_a_500(
    api: ApiClient, tenant_a: TenantFixture, where: str
) -> None:
    # Every depth the parser accepts must also survive validation (DRF's JSONField re-encodes it).
    failures = []
    for depth in range(800, 1000):
        nested = "[" * depth + "]" * depth
        body = json.dumps({**example(), where: "PLACEHOLDER"}).replace('"PLACEHOLDER"', nested)
        response = post_raw(api, tenant_a, body)
        if response.status_code >= 500:
            failures.append(depth)
    assert failures == [], f"500 for nesting depths {failures}"


# ------------------------------------------------------------------ odd characters


@pytest.mark.parametrize(
    "body",
    [
        example(text="before\u0000after"),
        {**example(), "recipient": "+1555010\u00002999"},
        {**example(), "channel": "sms\u0000"},
        example(media_url="https://cdn.example.com/\u0000.jpg", media_type="image"),
        example(template={"id": "wel\u0000come"}),
        {**example(), "agent_role_id": "\u0000"},
        {**example(), "bad\u0000key": 1},
    ],
)
def test_a_nul_character_is_400_not_500(
    api: ApiClient, tenant_a: TenantFixture, body: dict[str, Any]
) -> None:
    before = counts(tenant_a)
    response = api.post(SEND, tenant=tenant_a, json_body=body)
    assert response.status_code == 400, response.content
    error_of(response)
    assert counts(tenant_a) == before


# A lone surrogate, sent as the JSON escape `\ud800`: valid JSON, but not valid Unicode.
# "@@" in these bodies becomes that escape.
MEDIA_URL = "https://cdn.example.com/a.jpg"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(example(text="@@"), id="text"),
        pytest.param(example(text="a @@ b"), id="text-inside"),
        pytest.param({**example(), "recipient": "@@"}, id="recipient"),
        pytest.param({**example(), "channel": "@@"}, id="channel"),
        pytest.param({**example(), "@@": 1}, id="top-level-key"),
        pytest.param(example(text="hi", **{"@@": 1}), id="message-key"),
        pytest.param(example(media_url=MEDIA_URL, media_type="@@"), id="media_type"),
        pytest.param(example(media_url=MEDIA_URL + "@@", media_type="image"), id="media_url"),
        pytest.param(example(template={"id": "@@"}), id="template-id"),
        pytest.param(example(template={"id": "w", "language": "@@"}), id="template-language"),
        pytest.param(example(template={"id": "w", "variables": {"@@": "x"}}), id="template-var"),
        pytest.param({**example(), "agent_role_id": "@@"}, id="agent_role_id"),
    ],
)
def test_a_lone_surrogate_is_never_a_500(
    api: ApiClient, tenant_a: TenantFixture, body: dict[str, Any]
) -> None:
    raw = json.dumps(body).replace("@@", "\\ud800")
    assert "\\ud800" in raw and json.loads(raw)  # what is sent is valid JSON
    response = post_raw(api, tenant_a, raw)
    assert response.status_code in {400, 201}, response.content
    if response.status_code == 400:
        error_of(response)


def test_a_surrogate_pair_escape_is_the_character_it_encodes(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    response = post_raw(
        api, tenant_a, json.dumps(example(text="Hi \U0001f600"))
    )  # ensure_ascii: \ud83d\ude00
    assert response.status_code == 201, response.content
    with tenant_a.schema():
        assert Message.objects.get(pk=response.json()["message"]["id"]).text == "Hi \U0001f600"


# ------------------------------------------------------------------ content type and size


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("text/plain", json.dumps(example())),
        ("application/x-www-form-urlencoded", "recipient=%2B15550102999&channel=sms&message=hi"),
        (
            "multipart/form-data; boundary=xyz",
            '--xyz\r\nContent-Disposition: form-data; name="recipient"'
            "\r\n\r\n+15550102999\r\n--xyz--\r\n",
        ),
        ("application/xml", "<send><recipient>+15550102999</recipient></send>"),
        ("text/json", json.dumps(example())),
        ("application/vnd.api+json", json.dumps(example())),
    ],
)
def test_a_body_that_is_not_json_is_415(
    api: ApiClient, tenant_a: TenantFixture, content_type: str, raw: str
) -> None:
    before = counts(tenant_a)
    response = post_raw(api, tenant_a, raw, content_type=content_type)
    assert response.status_code == 415, response.content
    assert error_of(response)["code"] == "unsupported_media_type"
    assert counts(tenant_a) == before


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "application/json;charset=UTF-8", "Application/JSON"],
)
def test_json_content_type_variants_are_accepted(
    api: ApiClient, tenant_a: TenantFixture, content_type: str
) -> None:
    response = post_raw(api, tenant_a, json.dumps(example()), content_type=content_type)
    assert response.status_code == 201, response.content


def _padded(size: int) -> str:
    body = json.dumps(example(text="x" * 100))
    return body + " " * (size - len(body))


def test_a_body_of_exactly_one_mebibyte_is_accepted(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    raw = _padded(LIMIT)
    assert len(raw.encode()) == LIMIT
    response = post_raw(api, tenant_a, raw)
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("size", [LIMIT + 1, 2 * LIMIT])
def test_a_body_over_one_mebibyte_is_413(
    api: ApiClient, tenant_a: TenantFixture, size: int
) -> None:
    before = counts(tenant_a)
    response = post_raw(
        api, tenant_a, _padded(size)
    )  # the test client sends an honest Content-Length
    assert response.status_code == 413, response.content
    assert error_of(response)["code"] == "payload_too_large"
    assert counts(tenant_a) == before


def test_a_large_text_over_one_mebibyte_is_413(api: ApiClient, tenant_a: TenantFixture) -> None:
    before = counts(tenant_a)
    response = api.post(SEND, tenant=tenant_a, json_body=example(text="x" * (LIMIT + 10)))
    assert response.status_code == 413, response.content
    assert error_of(response)["code"] == "payload_too_large"
    assert counts(tenant_a) == before


def test_a_content_length_shorter_than_the_body_reads_only_what_it_announced(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    before = counts(tenant_a)
    response = post_raw(api, tenant_a, _padded(2 * LIMIT), headers={"CONTENT_LENGTH": "20"})
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == "malformed_json"
    assert counts(tenant_a) == before


@pytest.mark.parametrize("length", ["abc", "-1", ""])
def test_a_nonsense_content_length_is_a_4xx(
    api: ApiClient, tenant_a: TenantFixture, length: str
) -> None:
    response = post_raw(api, tenant_a, json.dumps(example()), headers={"CONTENT_LENGTH": length})
    assert 400 <= response.status_code < 500, response.content
    error_of(response)


def test_the_parser_refuses_an_oversized_stream_without_content_length() -> None:
    # given a chunked body: no Content-Length for the middleware to check
    stream = io.BytesIO(b"[" + b" " * LIMIT + b"]")
    with pytest.raises(PayloadTooLarge):
        StrictJSONParser().parse(stream)
    with pytest.raises(MalformedJSON):
        StrictJSONParser().parse(io.BytesIO(b""))
    assert StrictJSONParser().parse(io.BytesIO(b'{"a": [1]}')) == {"a": [1]}


@pytest.mark.parametrize(("declared", "read"), [(2 * LIMIT, 2 * LIMIT), (DRAIN_LIMIT_BYTES + 1, 0)])
def test_a_declared_length_over_the_limit_is_read_to_a_bound_before_the_413(
    declared: int, read: int
) -> None:
    # A server that closes with the body unread resets the connection: the client (or the
    # proxy in front, which then answers 502) would never see the 413.
    stream = io.BytesIO(b" " * declared)
    request = RequestFactory().post(SEND_PATH, content_type="application/json")
    request.META.update({"CONTENT_LENGTH": str(declared), "wsgi.input": stream})
    reached: list[HttpRequest] = []

    response = ApiGuardMiddleware(lambda r: reached.append(r) or HttpResponse())(request)

    assert response.status_code == 413 and response["Connection"] == "close"
    assert json.loads(response.content)["error"]["code"] == "payload_too_large"
    assert stream.tell() == read and reached == []


# ------------------------------------------------------------------ routes and methods


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/nope"),
        ("get", "/api/v1/"),
        ("get", "/api/v1/conversations/"),
        ("post", "/api/v1/conversations/send/now"),
        ("get", "/api/v1/conversations/sess_00000000000000000000000000"),
        ("get", "/api/v1/conversations/not-an-id"),
        ("post", "/api/v1/conversations/sess_00000000000000000000000000/close"),
        ("get", "/api/v1/messages/msg_00000000000000000000000000"),
        ("get", "/api/v1/v2/conversations"),
    ],
)
def test_unknown_api_paths_are_404_json(
    api: ApiClient, tenant_a: TenantFixture, method: str, path: str
) -> None:
    response = api.request(method, path, tenant=tenant_a)
    assert response.status_code == 404, response.content
    assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("get", "conversations/send", "POST"),
        ("patch", "conversations/send", "POST"),
        ("delete", "conversations/send", "POST"),
        ("put", "conversations", "GET"),
        ("post", "conversations", "GET"),
        ("delete", "conversations", "GET"),
    ],
)
def test_a_wrong_method_is_405_json(
    api: ApiClient, tenant_a: TenantFixture, method: str, path: str, allowed: str
) -> None:
    before = counts(tenant_a)
    response = api.request(method, path, tenant=tenant_a, json_body=example())
    assert response.status_code == 405, response.content
    assert error_of(response)["code"] == "method_not_allowed"
    assert allowed in response["Allow"]
    assert method.upper() not in response["Allow"].split(", ")
    assert counts(tenant_a) == before


# ------------------------------------------------------------------ X-Request-ID


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("post", SEND, {"json_body": example()}, 201),
        ("post", SEND, {"raw": "{"}, 400),
        ("get", "conversations", {"authenticated": False}, 401),
        ("get", "nope", {}, 404),
        ("get", SEND, {}, 405),
        ("post", SEND, {"raw": " " * (LIMIT + 1)}, 413),
        ("post", SEND, {"raw": "x", "content_type": "text/plain"}, 415),
        ("get", "/healthz", {"authenticated": False}, 200),
    ],
)
def test_every_answer_carries_a_request_id(
    api: ApiClient,
    tenant_a: TenantFixture,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
) -> None:
    authenticated = kwargs.pop("authenticated", True)
    response = api.request(method, path, tenant=tenant_a if authenticated else None, **kwargs)
    assert response.status_code == status, response.content
    assert GENERATED_ID.match(response["X-Request-ID"]), response["X-Request-ID"]


def test_request_ids_differ_between_requests(api: ApiClient, tenant_a: TenantFixture) -> None:
    ids = {api.get("conversations", tenant=tenant_a)["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3


@pytest.mark.parametrize(
    "incoming", ["abc-123", "0b8f2c9e-6a1d-4f3a-9a57-3c1e7d2b5f10", "trace.1:2_3", "x" * 128]
)
@pytest.mark.parametrize("status_path", [("conversations", 200), ("nope", 404)])
def test_a_sane_incoming_request_id_is_echoed(
    api: ApiClient, tenant_a: TenantFixture, incoming: str, status_path: tuple[str, int]
) -> None:
    path, status = status_path
    response = api.get(path, tenant=tenant_a, headers={"HTTP_X_REQUEST_ID": incoming})
    assert response.status_code == status
    assert response["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming", ["has space", "<script>alert(1)</script>", "x" * 129, "a\tb", "é", "a,b"]
)
def test_an_unsafe_incoming_request_id_is_replaced(
    api: ApiClient, tenant_a: TenantFixture, incoming: str
) -> None:
    response = api.get("conversations", tenant=tenant_a, headers={"HTTP_X_REQUEST_ID": incoming})
    assert response.status_code == 200
    assert response["X-Request-ID"] != incoming
    assert GENERATED_ID.match(response["X-Request-ID"])
