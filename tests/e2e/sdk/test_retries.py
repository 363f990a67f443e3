"""The SDK's retry policy, against a scripted HTTP server on 127.0.0.1 (no stack needed)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.http_server import Reply, ScriptedServer

CONVERSATION = {
    "id": "sess_01m8ksth2m1exmarp5ax2vx0pf",
    "status": "active",
    "channel": "sms",
    "recipient": "+15550102999",
    "agent_role_id": None,
    "integration_id": "intg_01m8ksth2m1exmarp5ax2vx0pg",
    "created_at": "2026-11-29T14:00:00Z",
    "last_activity_at": "2026-11-29T14:00:00Z",
    "closed_at": None,
}


def _error(status: int, code: str, **headers: str) -> Reply:
    return Reply(
        status=status,
        body={"error": {"code": code, "message": code.replace("_", " ")}},
        headers={"X-Request-ID": f"req_{code}", **headers},
    )


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


def _client(sdk: ModuleType, server: ScriptedServer, **options: Any) -> Any:
    options.setdefault("backoff_base", 0.01)
    return sdk.Engium(api_key="k", tenant_id="ten_1", base_url=server.url, **options)


def test_a_send_is_retried_with_one_idempotency_key(
    sdk: ModuleType, server: ScriptedServer
) -> None:
    server.replies.extend(
        [_error(503, "service_unavailable", **{"Retry-After": "0"}), _error(502, "bad_gateway")]
    )
    server.default = Reply(status=201, body=CONVERSATION)
    with _client(sdk, server) as client:
        sent = client.conversations.send(recipient="+15550102999", channel="sms", text="Hi")
    assert sent.id == CONVERSATION["id"] and sent.message is None
    keys = [r.headers["Idempotency-Key"] for r in server.received]
    assert len(keys) == 3 and len(set(keys)) == 1
    assert uuid.UUID(keys[0]).version == 4
    assert {r.headers["Authorization"] for r in server.received} == {"Bearer k"}
    assert {r.headers["X-Tenant-ID"] for r in server.received} == {"ten_1"}


def test_the_callers_idempotency_key_is_sent(sdk: ModuleType, server: ScriptedServer) -> None:
    server.default = Reply(status=201, body=CONVERSATION, headers={"Idempotent-Replayed": "true"})
    with _client(sdk, server) as client:
        sent = client.conversations.send(
            recipient="+15550102999", channel="sms", text="Hi", idempotency_key="order-1"
        )
    assert server.received[0].headers["Idempotency-Key"] == "order-1"
    assert sent.replayed is True


def test_after_the_last_retry_the_typed_error_is_raised(
    sdk: ModuleType, server: ScriptedServer
) -> None:
    server.default = _error(500, "internal_error")
    with _client(sdk, server, max_retries=2) as client, pytest.raises(sdk.ServerError) as raised:
        client.messages.retrieve("msg_1")
    assert len(server.received) == 3
    error = raised.value
    assert (error.status_code, error.code, error.request_id) == (
        500,
        "internal_error",
        "req_internal_error",
    )


def test_a_creation_is_not_repeated_after_an_answer_that_may_have_done_it(
    sdk: ModuleType, server: ScriptedServer
) -> None:
    server.default = _error(500, "internal_error")
    with _client(sdk, server) as client, pytest.raises(sdk.ServerError):
        client.integrations.create(channel="sms", provider="sandbox")
    assert len(server.received) == 1


def test_a_creation_is_repeated_after_an_answer_that_did_nothing(
    sdk: ModuleType, server: ScriptedServer
) -> None:
    server.replies.append(_error(503, "service_unavailable", **{"Retry-After": "0"}))
    server.default = _error(400, "validation_error")
    with _client(sdk, server) as client, pytest.raises(sdk.ValidationError):
        client.integrations.create(channel="sms", provider="sandbox")
    assert len(server.received) == 2


def test_a_timed_out_send_is_retried_but_a_timed_out_creation_is_not(
    sdk: ModuleType, server: ScriptedServer
) -> None:
    server.replies.append(Reply(status=201, body=CONVERSATION, delay=1.0))
    server.default = Reply(status=201, body=CONVERSATION)
    with _client(sdk, server, timeout=0.3) as client:
        assert client.conversations.send(recipient="+15550102999", channel="sms", text="Hi")
        assert len(server.received) == 2
        server.replies.append(Reply(status=201, body={}, delay=1.0))
        with pytest.raises(sdk.APITimeoutError):
            client.integrations.create(channel="sms", provider="sandbox")
    assert len(server.received) == 3


def test_a_connection_refused_is_retried_then_raised(sdk: ModuleType) -> None:
    with ScriptedServer() as gone:
        url = gone.url
    client = sdk.Engium(api_key="k", tenant_id="t", base_url=url, backoff_base=0.01)
    with client, pytest.raises(sdk.APIConnectionError) as raised:
        client.api_keys.create(name="x")  # refused connections did nothing: safe to retry
    assert raised.value.code == "connection_error"


def test_lists_follow_the_cursor(sdk: ModuleType, server: ScriptedServer) -> None:
    def page(received: Any) -> Any:
        cursor = received.path.partition("cursor=")[2]
        if not cursor:
            return {"data": [], "has_more": True, "next_cursor": "key_2"}
        return {"data": [], "has_more": False, "next_cursor": None}

    server.default = Reply(body=page)
    with _client(sdk, server) as client:
        pages = list(client.api_keys.list(limit=1).pages())
    assert [p.has_more for p in pages] == [True, False]
    assert [r.path for r in server.received] == [
        "/api/v1/api-keys?limit=1",
        "/api/v1/api-keys?limit=1&cursor=key_2",
    ]


def test_configuration_comes_from_the_environment(
    sdk: ModuleType, server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGIUM_API_KEY", "env-key")
    monkeypatch.setenv("ENGIUM_TENANT_ID", "ten_env")
    monkeypatch.setenv("ENGIUM_BASE_URL", server.url + "/")
    server.default = Reply(body={"data": [], "has_more": False, "next_cursor": None})
    with sdk.Engium() as client:
        assert list(client.messages.list()) == []
    headers = server.received[0].headers
    assert (headers["Authorization"], headers["X-Tenant-ID"]) == ("Bearer env-key", "ten_env")
    assert server.received[0].path == "/api/v1/messages"
