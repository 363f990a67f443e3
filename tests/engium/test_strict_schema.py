"""What the fuzzer found, fixed: the schema says no more and no less than the validation takes.

Each case is a request the OpenAPI schema allowed and the API refused, or the other way
round (tests/e2e/test_fuzz.py finds such pairs; these keep them fixed, fast). The contract:
docs/api.md#conventions.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from drf_spectacular.generators import SchemaGenerator

from engium.patterns import HAS_LETTER_OR_DIGIT, MEDIA_URL, NOT_ONLY_WHITESPACE, PHONE_SHAPE
from tests.conftest import ApiClient, TenantFixture, error_of
from tests.e2e.fuzz_checks import envelope_problem

WHITESPACE = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return dict(schema["components"]["schemas"][name])
    return node


def _objects(schema: dict[str, Any], node: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object schema a request body holds, nested ones and variants included."""
    node = _resolve(schema, node)
    found = [node] if node.get("type") == "object" and "properties" in node else []
    for variant in node.get("oneOf", []) + node.get("allOf", []):
        found += _objects(schema, variant)
    for child in node.get("properties", {}).values():
        found += _objects(schema, child)
    return found


def test_every_request_body_refuses_unknown_fields(schema: dict[str, Any]) -> None:
    bodies = [
        (operation["operationId"], content["schema"])
        for item in schema["paths"].values()
        for operation in item.values()
        for content in operation.get("requestBody", {}).get("content", {}).values()
    ]
    assert len(bodies) >= 8
    for operation_id, body in bodies:
        objects = _objects(schema, body)
        assert objects, operation_id
        for node in objects:
            assert node.get("additionalProperties") is False, (operation_id, node)


def test_the_white_space_pattern_means_what_strip_means_in_every_engine() -> None:
    # Python's `re` (Django's validators) and Rust's regex (the fuzzer's JSON Schema
    # validator) agree with `str.strip()` on every white space character, and on the ones
    # some engines count as white space and Python does not.
    rule = jsonschema_rs.validator_for({"type": "string", "pattern": NOT_ONLY_WHITESPACE})
    for character in [*WHITESPACE, "\ufeff", "\u200b", "a", "+", "\x00"]:
        expected = bool(character.strip())
        assert bool(re.search(NOT_ONLY_WHITESPACE, character)) is expected, hex(ord(character))
        assert rule.is_valid(character) is expected, hex(ord(character))


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("+15550102999", True),
        ("\u3000+1 (555) 010-2999\x1c", True),
        ("15550102999", False),
        ("+1555a", False),
        ("+1\n2", True),
    ],
)
def test_the_phone_shape_is_read_alike_by_python_and_json_schema(value: str, valid: bool) -> None:
    assert bool(re.search(PHONE_SHAPE, value)) is valid
    assert (
        jsonschema_rs.validator_for({"type": "string", "pattern": PHONE_SHAPE}).is_valid(value)
        is valid
    )


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("https://example.com/a.png", True),
        ("https://cdn.example.com:8443/x?y=1#z", True),
        ("http://example.com/a.png", False),
        ("https://a\n", False),
        (" https://example.com/a.png", False),
        ("https://[::1", False),
        ("https://", False),
    ],
)
def test_a_media_url_pattern_and_the_send_agree(
    api: ApiClient, tenant_a: TenantFixture, schema: dict[str, Any], value: str, valid: bool
) -> None:
    documented = schema["components"]["schemas"]["MessageContent"]["oneOf"][1]
    assert documented["properties"]["media_url"]["pattern"] == MEDIA_URL.replace(r"\Z", "$")
    rule = {"type": "string", "pattern": documented["properties"]["media_url"]["pattern"]}
    assert jsonschema_rs.validator_for(rule).is_valid(value) is valid
    answer = api.send(tenant_a, message={"media_url": value, "media_type": "image"})
    assert answer.status_code == (201 if valid else 400), answer.content
    if not valid:
        assert error_of(answer)["field"] == "message.media_url"


def test_the_message_schema_is_one_of_three_variants(schema: dict[str, Any]) -> None:
    message = schema["components"]["schemas"]["MessageContent"]
    rule = jsonschema_rs.validator_for(
        {**message, "components": schema["components"]},
    )
    template = {"template": {"id": "welcome"}}
    assert rule.is_valid({"text": "Hi"})
    assert rule.is_valid({"media_url": "https://example.com/a.png", "media_type": "image"})
    assert rule.is_valid({"media_url": "https://e.com/a", "media_type": "audio", "text": " "})
    assert rule.is_valid(template)
    for refused in [{}, {"text": " \n\u3000"}, {"text": "Hi", **template}, {"media_type": "video"}]:
        assert not rule.is_valid(refused), refused


@pytest.mark.parametrize("text", ["", " ", "\u3000\n\x1c"])
def test_text_of_white_space_only_is_refused(
    api: ApiClient, tenant_a: TenantFixture, text: str
) -> None:
    answer = api.send(tenant_a, message={"text": text})
    assert answer.status_code == 400
    assert error_of(answer)["field"] == "message.text"


def test_a_trimmed_name_of_white_space_only_is_refused_as_documented(
    api: ApiClient, tenant_a: TenantFixture, schema: dict[str, Any]
) -> None:
    name = schema["components"]["schemas"]["ApiKeyCreate"]["properties"]["name"]
    assert name["pattern"] == NOT_ONLY_WHITESPACE.replace(r"\x", r"\u00")
    answer = api.post("api-keys", tenant=tenant_a, json_body={"name": " \u2003"})
    assert answer.status_code == 400
    assert error_of(answer)["field"] == "name"


def test_a_maximum_length_counts_the_text_as_sent(api: ApiClient, tenant_a: TenantFixture) -> None:
    # Trimmed, it would fit: the schema's maxLength (100) counts the white space too.
    answer = api.post("api-keys", tenant=tenant_a, json_body={"name": "  " + "k" * 100})
    assert answer.status_code == 400
    assert error_of(answer)["field"] == "name"
    answer = api.post("api-keys", tenant=tenant_a, json_body={"name": " " + "k" * 99})
    assert answer.status_code == 201
    assert answer.json()["name"] == "k" * 99


def test_providers_are_an_enum_taken_as_given(
    api: ApiClient, tenant_a: TenantFixture, schema: dict[str, Any]
) -> None:
    provider = schema["components"]["schemas"]["IntegrationCreate"]["properties"]["provider"]
    enum = _resolve(schema, provider["allOf"][0])["enum"]
    assert enum == ["sandbox", "twilio", "whatsapp_cloud"]
    for given in ["", " sandbox", "sandbox ", "Sandbox"]:
        answer = api.post(
            "integrations",
            tenant=tenant_a,
            json_body={"channel": "sms", "provider": given, "config": {}},
        )
        assert answer.status_code == 400, given
        assert error_of(answer)["field"] == "provider"


@pytest.mark.parametrize("value", [0, 1, "true", "yes", None])
def test_booleans_are_json_booleans(api: ApiClient, tenant_a: TenantFixture, value: object) -> None:
    integration = tenant_a.integrations["sms"]
    answer = api.patch(
        f"integrations/{integration}", tenant=tenant_a, json_body={"is_default": value}
    )
    assert answer.status_code == 400
    assert error_of(answer)["field"] == "is_default"
    answer = api.post(
        "webhooks",
        tenant=tenant_a,
        json_body={"url": "https://example.com/hook", "events": ["*"], "enabled": value},
    )
    assert answer.status_code == 400
    assert error_of(answer)["field"] == "enabled"


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("conversations", "cursor"),
        ("conversations", "status"),
        ("messages", "created_after"),
        ("integrations", "status"),
        ("api-keys", "limit"),
        ("webhooks", "cursor"),
    ],
)
def test_an_empty_list_parameter_is_refused(
    api: ApiClient, tenant_a: TenantFixture, path: str, parameter: str
) -> None:
    answer = api.get(path, tenant=tenant_a, query={parameter: ""})
    assert answer.status_code == 400
    assert error_of(answer)["field"] == parameter


@pytest.mark.parametrize(
    "query",
    [
        {"cursor": "msg_00000000000000000000000000\n"},
        {"cursor": " msg_00000000000000000000000000"},
        {"conversation_id": "sess_00000000000000000000000000\n"},
        {"conversation_id": "0"},
    ],
)
def test_ids_in_a_list_query_are_taken_exactly(
    api: ApiClient, tenant_a: TenantFixture, query: dict[str, str]
) -> None:
    answer = api.get("messages", tenant=tenant_a, query=query)
    assert answer.status_code == 400
    assert error_of(answer)["field"] == next(iter(query))


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ({"created_after": "0001-01-01T12:55:09+22:23"}, 1),
        ({"created_before": "0001-01-01T00:00:00+01:00"}, 0),
        ({"created_after": "9999-12-31T23:59:59-05:00"}, 0),
        ({"created_before": "9999-12-31T23:59:59-05:00"}, 1),
    ],
)
def test_a_time_beyond_what_python_holds_in_utc_is_a_bound_not_an_error(
    api: ApiClient, tenant_a: TenantFixture, query: dict[str, str], found: int
) -> None:
    api.send(tenant_a)
    answer = api.get("messages", tenant=tenant_a, query=query)
    assert answer.status_code == 200, answer.content
    assert len(answer.json()["data"]) == found


def test_a_recipient_filter_of_the_right_shape_that_is_no_number_finds_nothing(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    api.send(tenant_a)
    for path in ("conversations", "messages"):
        found = api.get(path, tenant=tenant_a, query={"recipient": "+1 555 010 2999"})
        assert found.status_code == 200 and len(found.json()["data"]) == 1
        nothing = api.get(path, tenant=tenant_a, query={"recipient": "+0"})
        assert nothing.status_code == 200 and nothing.json()["data"] == []
        refused = api.get(path, tenant=tenant_a, query={"recipient": "\x85+" + "0" * 40})
        assert refused.status_code == 400
        assert error_of(refused)["field"] == "recipient"


# ------------------------------------------------------------------ agent roles, templates, media


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0's `nullable: true` as JSON Schema says it (as the fuzzer reads it)."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def _rule(schema: dict[str, Any], node: dict[str, Any]) -> Any:
    return jsonschema_rs.validator_for(
        _json_schema({**node, "components": schema["components"]}), validate_formats=True
    )


def _role(**body: Any) -> dict[str, Any]:
    return {"name": "Ana", "instructions": "Help.", "language": "en", **body}


@pytest.mark.parametrize("value", [0, 1, "true", None])
def test_agent_role_booleans_are_json_booleans(
    api: ApiClient, tenant_a: TenantFixture, value: object
) -> None:
    answer = api.post("agent-roles", tenant=tenant_a, json_body=_role(is_default=value))
    assert answer.status_code == 400
    assert error_of(answer)["field"] == "is_default"
    role = api.post("agent-roles", tenant=tenant_a, json_body=_role()).json()
    answer = api.patch(
        f"agent-roles/{role['id']}", tenant=tenant_a, json_body={"is_default": value}
    )
    assert answer.status_code == 400
    assert error_of(answer)["field"] == "is_default"


@pytest.mark.parametrize(
    ("keyword", "valid"),
    [
        ("human", True),
        ("hablar con una persona", True),
        ("\u0645\u0648\u0638\u0641", True),  # Arabic
        ("\u0967", True),  # a Devanagari digit
        ("%:\x06#\x13", False),
        ("\U0009bbde\x03\U00015a0c%:", False),  # no letter or digit in the BMP
        ("!!", False),
        ("\u0301", False),  # a lone combining accent
        ("human\x00", False),
    ],
)
def test_a_handoff_keyword_pattern_and_the_validation_agree(
    api: ApiClient, tenant_a: TenantFixture, schema: dict[str, Any], keyword: str, valid: bool
) -> None:
    for name in ("AgentRoleCreate", "PatchedAgentRoleUpdate"):
        items = schema["components"]["schemas"][name]["properties"]["handoff_keywords"]["items"]
        assert items["pattern"] == HAS_LETTER_OR_DIGIT.replace(r"\x", r"\u00").replace(r"\Z", "$")
        assert jsonschema_rs.validator_for(items).is_valid(keyword) is valid, name
    assert bool(re.search(HAS_LETTER_OR_DIGIT, keyword)) is valid
    answer = api.post("agent-roles", tenant=tenant_a, json_body=_role(handoff_keywords=[keyword]))
    assert answer.status_code == (201 if valid else 400), answer.content
    if valid:
        assert answer.json()["handoff_keywords"] == [keyword]
    else:
        assert error_of(answer)["field"].startswith("handoff_keywords")


@pytest.mark.parametrize(
    ("field", "value", "valid"),
    [
        ("question", "C\x0e]\x16I\x9d\x10\xa6\x13\xeb\x7f", True),  # control characters
        ("question", "\x9e", True),
        ("answer", "\x990\x8a\U000c23e8", True),
        ("question", "a\x00b", False),
        ("answer", " \u3000", False),
    ],
)
def test_knowledge_text_the_schema_allows_is_taken(
    api: ApiClient,
    tenant_a: TenantFixture,
    schema: dict[str, Any],
    field: str,
    value: str,
    valid: bool,
) -> None:
    entry = {"question": "Hours?", "answer": "9 to 5.", field: value}
    rule = _rule(schema, schema["components"]["schemas"]["KnowledgeEntry"])
    assert rule.is_valid(entry) is valid
    answer = api.post("agent-roles", tenant=tenant_a, json_body=_role(knowledge=[entry]))
    assert answer.status_code == (201 if valid else 400), answer.content
    if valid:
        assert answer.json()["knowledge"] == [entry]


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"greeting": ""}, True),
        ({"greeting": " "}, True),
        ({"greeting": "\x10\U000a3dc2\u0100"}, True),
        ({"greeting": "hi\x00"}, False),
        ({"name": "\x10\U000a3dc2\u0100\xafz\xd1"}, True),
        ({"name": "a\x00"}, False),
        ({"instructions": "\x00"}, False),
    ],
)
def test_agent_role_text_the_schema_allows_is_taken(
    api: ApiClient, tenant_a: TenantFixture, schema: dict[str, Any], body: Any, valid: bool
) -> None:
    role = api.post("agent-roles", tenant=tenant_a, json_body=_role()).json()
    for name in ("AgentRoleCreate", "PatchedAgentRoleUpdate"):
        rule = _rule(schema, schema["components"]["schemas"][name])
        assert rule.is_valid(_role(**body)) is valid, name
    answer = api.post("agent-roles", tenant=tenant_a, json_body=_role(**body))
    assert answer.status_code == (201 if valid else 400), answer.content
    answer = api.patch(f"agent-roles/{role['id']}", tenant=tenant_a, json_body=body)
    assert answer.status_code == (200 if valid else 400), answer.content


@pytest.mark.parametrize("parameter", ["language", "is_default", "cursor", "limit"])
def test_an_empty_agent_role_filter_is_refused(
    api: ApiClient, tenant_a: TenantFixture, parameter: str
) -> None:
    answer = api.get("agent-roles", tenant=tenant_a, query={parameter: ""})
    assert answer.status_code == 400
    assert error_of(answer)["field"] == parameter


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"bodies": {}}, False),
        ({"bodies": {"x-schemathesis-additional": "Hi"}}, False),
        ({"bodies": {"en": " \n"}}, False),
        ({"bodies": {"en": "Hi\x00"}}, False),
        ({"name": "order_update\n"}, False),
        ({"name": " order_update"}, False),
        ({"name": 0}, False),
        ({"examples": {"x": " "}}, False),
        (
            {"bodies": {"en": "Hi {{name}}", "es": "Hola {{name}}"}, "examples": {"name": "Ana"}},
            True,
        ),
    ],
)
def test_template_bodies_names_and_examples_as_the_schema_says(
    api: ApiClient, tenant_a: TenantFixture, schema: dict[str, Any], body: Any, valid: bool
) -> None:
    request = {"name": "order_update", "category": "utility", "bodies": {"en": "Hi"}, **body}
    rule = _rule(schema, schema["components"]["schemas"]["TemplateCreate"])
    assert rule.is_valid(request) is valid
    answer = api.post("templates", tenant=tenant_a, json_body=request)
    assert answer.status_code == (201 if valid else 400), answer.content
    if not valid:
        assert error_of(answer)["field"].split(".")[0] == next(iter(body))


def test_a_template_change_takes_languages_only(
    api: ApiClient, tenant_a: TenantFixture, schema: dict[str, Any]
) -> None:
    request = {"name": "order_update", "category": "utility", "bodies": {"en": "Hi"}}
    template = api.post("templates", tenant=tenant_a, json_body=request).json()
    rule = _rule(schema, schema["components"]["schemas"]["PatchedTemplateUpdate"])
    for refused in [{"bodies": {"x-schemathesis-additional": None}}, {"bodies": {"en": ""}}]:
        assert not rule.is_valid(refused)
        answer = api.patch(f"templates/{template['id']}", tenant=tenant_a, json_body=refused)
        assert answer.status_code == 400
        assert error_of(answer)["field"].startswith("bodies")
    for taken in [{"bodies": {}}, {"bodies": {"es": "Hola", "en": None}}]:
        assert rule.is_valid(taken)
        answer = api.patch(f"templates/{template['id']}", tenant=tenant_a, json_body=taken)
        assert answer.status_code == 200, answer.content


def test_rules_no_schema_states_are_named_where_the_fuzzer_skips_them() -> None:
    # Only `positive_data_acceptance` is off for these, each with its reason in the file.
    config = tomllib.loads((Path(__file__).parents[2] / "schemathesis.toml").read_text())
    skipped = {
        operation_id
        for entry in config["operations"]
        if entry.get("checks", {}).get("positive_data_acceptance", {}).get("enabled") is False
        for operation_id in (
            [entry["include-operation-id"]]
            if isinstance(entry["include-operation-id"], str)
            else entry["include-operation-id"]
        )
    }
    assert {"media_create", "templates_create", "templates_update"} <= skipped
    assert not {"agent_roles_create", "agent_roles_update", "media_list"} & skipped


def test_a_media_url_is_answered_as_sent_and_as_the_schema_says(
    api: ApiClient, tenant_a: TenantFixture, schema: dict[str, Any]
) -> None:
    media_url = "https://GGr:6?c\U00104331[D\x84q\U000a83bb"
    rule = _rule(schema, schema["components"]["schemas"]["MessageContent"])
    assert rule.is_valid({"media_url": media_url, "media_type": "image"})
    sent = api.send(tenant_a, message={"media_url": media_url, "media_type": "image"})
    assert sent.status_code == 201, sent.content
    message = sent.json()["message"]
    assert message["media_url"] == media_url
    answer_rule = _rule(schema, schema["components"]["schemas"]["Message"])
    assert answer_rule.is_valid(message)
    fetched = api.get(f"messages/{message['id']}", tenant=tenant_a).json()
    assert fetched["media_url"] == media_url
    assert answer_rule.is_valid(fetched)
    assert not answer_rule.is_valid({**fetched, "media_url": 1})


# ------------------------------------------------------------------ the fuzzer's own check


@pytest.mark.parametrize(
    ("status", "content_type", "body", "wrong"),
    [
        (200, "text/html", b"<p>", False),
        (404, "application/json", b'{"error": {"code": "not_found", "message": "No."}}', False),
        (
            400,
            "application/json; charset=utf-8",
            b'{"error": {"code": "validation_error", "message": "Bad.", "field": "a", '
            b'"details": [{"field": "a", "message": "Bad.", "code": "invalid"}]}}',
            False,
        ),
        (404, "text/html; charset=utf-8", b"<h1>Not Found</h1>", True),
        (500, "application/json", b"not json", True),
        (400, "application/json", b'{"detail": "Bad."}', True),
        (400, "application/json", b'{"error": "Bad."}', True),
        (400, "application/json", b'{"error": {"code": "x"}}', True),
        (400, "application/json", b'{"error": {"code": "x", "message": "y", "extra": 1}}', True),
        (400, "application/json", b'{"error": {"code": "x", "message": "y"}, "more": 1}', True),
    ],
)
def test_the_error_envelope_check(status: int, content_type: str, body: bytes, wrong: bool) -> None:
    assert (envelope_problem(status, content_type, body) is not None) is wrong
