"""Findings of the outside security review, reproduced: bounded errors, paths, headers, logs."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from conversations.models import Message
from tests.conftest import ApiClient, TenantFixture, error_of

SEND = "conversations/send"


@contextmanager
def _captured_logs() -> Iterator[list[dict[str, Any]]]:
    """What the configured console handler writes (with its filters), as parsed JSON lines."""
    from engium.logging import RedactingFilter

    handler = next(
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler)
        and any(isinstance(f, RedactingFilter) for f in h.filters)
    )
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        handler.setStream(previous)  # type: ignore[arg-type]
    lines.extend(json.loads(line) for line in buffer.getvalue().splitlines())


def template_send(variables: Any) -> dict[str, Any]:
    return {
        "recipient": "+15550102999",
        "channel": "sms",
        "message": {"template": {"id": "welcome", "variables": variables}},
    }


# ------------------------------------------------------------------ error amplification


def test_a_huge_collection_is_refused_before_its_members_are_checked(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    # given: close to 1 MiB of template variables, every one of them invalid
    variables = {f"v{i}": i for i in range(60_000)}
    body = json.dumps(template_send(variables))
    assert len(body) < 1024 * 1024

    # when
    started = time.monotonic()
    answer = api.post(SEND, tenant=tenant_a, raw=body)
    took = time.monotonic() - started

    # then: one short error, not one per variable
    error = error_of(answer)
    assert answer.status_code == 400
    assert error["field"] == "message.template.variables"
    assert "At most 50" in error["message"]
    assert len(answer.content) < 2000, len(answer.content)
    assert took < 30  # a guard against hanging, not a benchmark
    with tenant_a.schema():
        assert not Message.objects.exists()


def test_error_details_are_capped_with_a_count(api: ApiClient, tenant_a: TenantFixture) -> None:
    # given: 50 variables (the most allowed), each of the wrong type
    answer = api.post(
        SEND, tenant=tenant_a, json_body=template_send({f"v{i}": i for i in range(50)})
    )

    # then: the first 20 problems, and how many there were
    error = error_of(answer)
    assert answer.status_code == 400
    assert len(error["details"]) == 20
    assert error["details_total"] == 50
    assert error["details"][0]["field"].startswith("message.template.variables.")


def test_few_problems_carry_no_total(api: ApiClient, tenant_a: TenantFixture) -> None:
    answer = api.post(SEND, tenant=tenant_a, json_body=template_send({"name": 1}))
    error = error_of(answer)
    assert len(error["details"]) == 1
    assert "details_total" not in error


def test_variable_names_are_bounded(api: ApiClient, tenant_a: TenantFixture) -> None:
    answer = api.post(SEND, tenant=tenant_a, json_body=template_send({"x" * 65: "a"}))
    assert answer.status_code == 400
    assert error_of(answer)["field"] == "message.template.variables"


# ------------------------------------------------------------------ paths


def test_a_script_name_does_not_skip_the_tenant_middleware(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    # given: a request whose SCRIPT_NAME (a client could set it through a proxy) prefixes
    # its path; the resolver routes by PATH_INFO, so the middleware must too
    answer = api.client.get("/api/v1/messages", SCRIPT_NAME="/prefix", **tenant_a.headers())

    # then: the tenant was routed, and the API answered as usual
    assert answer.status_code == 200, answer.content
    assert answer.json()["data"] == []


def test_a_script_name_keeps_errors_in_the_json_shape(api: ApiClient) -> None:
    answer = api.client.get("/api/v1/messages", SCRIPT_NAME="/prefix")
    assert answer.status_code == 401
    assert error_of(answer)["code"] == "authentication_failed"
    assert answer["Cache-Control"] == "no-store"


# ------------------------------------------------------------------ headers


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "messages", {}, 401),
        ("post", SEND, {"raw": "x", "headers": {"CONTENT_LENGTH": str(2 * 1024 * 1024)}}, 413),
        ("get", "messages", {"tenant": True}, 200),
        ("get", "messages/msg_0000000000000000000000000a", {"tenant": True}, 404),
    ],
)
def test_every_api_answer_carries_the_security_headers_and_no_store(
    api: ApiClient,
    tenant_a: TenantFixture,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
) -> None:
    if kwargs.pop("tenant", False):
        kwargs["tenant"] = tenant_a
    answer = getattr(api, method)(path, **kwargs)
    assert answer.status_code == status
    assert answer["Cache-Control"] == "no-store"
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert answer["X-Frame-Options"] == "DENY"
    assert answer["Referrer-Policy"] == "same-origin"


# ------------------------------------------------------------------ errors on /api/ are JSON


@override_settings(ALLOWED_HOSTS=["testserver"])
def test_a_disallowed_host_is_a_json_400_and_a_warning_without_traceback(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    with _captured_logs() as lines:
        answer = api.client.get("/api/v1/messages", HTTP_HOST="evil.example", **tenant_a.headers())
    assert answer.status_code == 400
    assert error_of(answer)["code"] == "validation_error"
    security = [line for line in lines if line["logger"].startswith("django.security")]
    assert security, lines
    assert all(line["level"] == "WARNING" for line in security)
    assert not any("exc_info" in line for line in security)


# ------------------------------------------------------------------ secrets in logs


def test_logs_carry_method_and_path_only_and_no_secrets(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    # when: a 4xx for a URL that wrongly carries a key and a phone number
    with _captured_logs() as lines:
        answer = api.client.get(
            "/api/v1/messages/msg_0000000000000000000000000a",
            {"api_key": "egk_leaked_secret_value", "recipient": "+15550102999"},
            **tenant_a.headers(),
        )
    assert answer.status_code == 404

    # then
    err = json.dumps(lines)
    assert "egk_leaked_secret_value" not in err
    assert "15550102999" not in err
    logged = [line for line in lines if line.get("status_code") == 404]
    assert logged, err
    assert logged[0]["request"] == "GET /api/v1/messages/msg_0000000000000000000000000a"


def test_redact_hides_credentials_in_any_text() -> None:
    from engium.logging import redact

    text = (
        "GET /x?api_key=abc123&token=t0k&page=2 Authorization: Bearer egk_abcdef "
        "key egk_ZZZ hub.verify_token=vt password=pw"
    )
    cleaned = redact(text)
    for secret in ("abc123", "t0k", "egk_abcdef", "egk_ZZZ", "=vt", "=pw"):
        assert secret not in cleaned, cleaned
    assert "page=2" in cleaned


def test_a_key_in_the_path_is_redacted_in_the_logged_request(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    with _captured_logs() as lines:
        answer = api.client.get("/api/v1/nope/egk_in_the_path_secret", **tenant_a.headers())
    assert answer.status_code == 404
    assert "egk_in_the_path_secret" not in json.dumps(lines)
    assert any(line.get("request") == "GET /api/v1/nope/egk_[redacted]" for line in lines), lines


def test_the_access_log_cannot_be_forged_nor_hold_keys() -> None:
    import runpy
    from datetime import timedelta
    from pathlib import Path
    from types import SimpleNamespace

    config = runpy.run_path(str(Path(settings.BASE_DIR) / "deploy" / "gunicorn.conf.py"))
    logger = config["SafeAccessLogger"].__new__(config["SafeAccessLogger"])
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/x",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": '/api/v1/y\n127.0.0.1 "FORGED"\x00/egk_secret_in_path',
        "QUERY_STRING": "api_key=egk_q",
    }
    response = SimpleNamespace(status="404", headers=[], sent=0)
    atoms = logger.atoms(response, [], environ, timedelta(seconds=0))
    assert "\n" not in atoms["U"] and "\x00" not in atoms["U"] and '"' not in atoms["U"]
    assert "egk_secret_in_path" not in atoms["U"]
    assert "egk_q" not in config["access_log_format"] % atoms
