"""The SDK against the real stack (gunicorn, worker, beat, broker): what a developer does."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from types import ModuleType
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.e2e.conftest import BASE_DIR, Stack, wait_until
from tests.e2e.sdk.conftest import Credentials
from tests.http_server import ScriptedServer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

# A 1×1 PNG: media detected from its content.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def test_the_first_message_is_delivered_read_and_its_webhooks_verify(
    sdk: ModuleType, credentials: Credentials
) -> None:
    with ScriptedServer() as receiver, credentials.client(sdk) as client:
        # given an endpoint for the message's fate
        endpoint = client.webhooks.create(
            url=f"{receiver.url}/engium",
            events=["conversation.message.delivered", "conversation.message.read"],
        )
        assert endpoint.secret.startswith("whsec_")
        # when the first message is sent
        sent = client.conversations.send(
            recipient="+15550102999",
            channel="whatsapp",
            text="Hello from Engium! How can we help you today?",
        )
        assert sent.id.startswith("sess_") and sent.status == "active"
        assert sent.message is not None and sent.message.status == "queued"
        # then it is read within the sandbox's timetable
        message = wait_until(
            lambda: (m := client.messages.retrieve(sent.message.id)).status == "read" and m,
            60,
            "the message read",
            interval=0.5,
        )
        assert [step.status for step in message.status_history] == [
            "queued",
            "sending",
            "sent",
            "delivered",
            "read",
        ]
        # and its webhooks arrive, genuine by the SDK's verifier and the official one alike
        wait_until(lambda: len(receiver.received) >= 2, 60, "two webhooks")
        events = [
            sdk.webhooks.verify(r.body, r.headers, endpoint.secret) for r in receiver.received
        ]
        official = [Webhook(endpoint.secret).verify(r.body, r.headers) for r in receiver.received]
        assert (
            [e.type for e in events]
            == [o["type"] for o in official]
            == [
                "conversation.message.delivered",
                "conversation.message.read",
            ]
        )
        assert [(e.message.id, e.message.status) for e in events] == [
            (message.id, "delivered"),
            (message.id, "read"),
        ]
        assert [e.id for e in events] == [r.headers["webhook-id"] for r in receiver.received]
        # the delivery log tells the same
        deliveries = list(client.webhooks.deliveries.list(endpoint.id))
        assert {d.id for d in deliveries} == {e.id for e in events}
        assert all(d.status == "succeeded" and d.attempts[0].succeeded for d in deliveries)
        client.webhooks.delete(endpoint.id)


class DroppingProxy:
    """A TCP proxy to gunicorn that lets the first ``drops`` answers be produced, then drops
    the connection instead of relaying them: the request was done, the client never knows."""

    def __init__(self, upstream_port: int, drops: int = 1) -> None:
        self.upstream_port = upstream_port
        self.drops = drops
        self.dropped = 0
        self.connections = 0
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        with self._lock:
            self.connections += 1
            drop = self.dropped < self.drops
        threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
        try:
            while data := upstream.recv(65536):
                if drop:
                    with self._lock:
                        self.dropped += 1
                    # Shut down, not only closed: a close would wait for the thread that
                    # reads the client's side, and the client would wait for its timeout.
                    client.shutdown(socket.SHUT_RDWR)
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            client.close()
            upstream.close()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()


def test_a_send_retried_after_a_dropped_connection_creates_one_message(
    sdk: ModuleType, stack: Stack, credentials: Credentials
) -> None:
    # given a network that loses the first answer
    proxy = DroppingProxy(stack.web_port)
    try:
        with sdk.Engium(
            api_key=credentials.api_key,
            tenant_id=credentials.tenant_id,
            base_url=f"http://127.0.0.1:{proxy.port}",
            backoff_base=0.05,
        ) as client:
            # when a send's answer is lost on the way
            sent = client.conversations.send(recipient="+15550104401", channel="sms", text="once")
    finally:
        proxy.close()
    # then the SDK retried with the same Idempotency-Key, and got the first answer again
    assert proxy.dropped == 1 and proxy.connections == 2
    assert sent.replayed is True
    with credentials.client(sdk) as client:
        messages = list(client.messages.list(recipient="+15550104401"))
    assert [m.id for m in messages] == [sent.message.id]


def test_without_retries_the_lost_answer_raises_a_connection_error(
    sdk: ModuleType, stack: Stack, credentials: Credentials
) -> None:
    proxy = DroppingProxy(stack.web_port)
    try:
        with (
            sdk.Engium(
                api_key=credentials.api_key,
                tenant_id=credentials.tenant_id,
                base_url=f"http://127.0.0.1:{proxy.port}",
                max_retries=0,
            ) as client,
            pytest.raises(sdk.APIConnectionError),
        ):
            client.conversations.send(
                recipient="+15550104402", channel="sms", text="lost", idempotency_key="lost-1"
            )
    finally:
        proxy.close()
    # the caller retries with its key later: still one message
    with credentials.client(sdk) as client:
        again = client.conversations.send(
            recipient="+15550104402", channel="sms", text="lost", idempotency_key="lost-1"
        )
        assert again.replayed is True
        assert len(list(client.messages.list(recipient="+15550104402"))) == 1


def _tenant_with_rate_limit(stack: Stack, limit: int) -> dict[str, str]:
    output = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "create_tenant",
            "--name",
            "e2e sdk rate limit",
            "--plan",
            "free",
            "--rate-limit",
            str(limit),
            "--json",
        ],
        env=stack.env,
        cwd=BASE_DIR,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    created: dict[str, str] = json.loads(output)
    return created


def test_a_rate_limited_send_waits_for_retry_after_and_succeeds(
    sdk: ModuleType, stack: Stack
) -> None:
    from conversations.views import SEND_LIMITER

    # given a tenant of one send a minute, whose window holds a send of 58 s ago
    created = _tenant_with_rate_limit(stack, 1)
    redis = SEND_LIMITER._client()
    seconds, micros = redis.time()
    now_ms = seconds * 1000 + micros // 1000
    key = f"{SEND_LIMITER.prefix}:{created['tenant_id']}"
    redis.zadd(key, {"an-earlier-send": now_ms - 58_000})
    redis.pexpire(key, 60_000)
    statuses: list[int] = []
    http = httpx.Client(event_hooks={"response": [lambda r: statuses.append(r.status_code)]})
    with sdk.Engium(
        api_key=created["api_key"],
        tenant_id=created["tenant_id"],
        base_url=stack.base_url,
        http_client=http,
    ) as client:
        client.integrations.create(channel="sms", provider="sandbox")
        statuses.clear()
        # when
        started = time.monotonic()
        sent = client.conversations.send(recipient="+15550104403", channel="sms", text="later")
        waited = time.monotonic() - started
    # then the SDK was refused, waited as Retry-After said, and the send went through
    assert statuses == [429, 201]
    assert sent.message.status == "queued"
    assert waited >= 1.0  # Retry-After is whole seconds, at least 1


def test_a_retry_after_longer_than_allowed_raises_a_rate_limit_error_at_once(
    sdk: ModuleType, stack: Stack
) -> None:
    created = _tenant_with_rate_limit(stack, 1)
    with sdk.Engium(
        api_key=created["api_key"],
        tenant_id=created["tenant_id"],
        base_url=stack.base_url,
        max_retry_wait=5,
    ) as client:
        client.integrations.create(channel="sms", provider="sandbox")
        client.conversations.send(recipient="+15550104404", channel="sms", text="first")
        with pytest.raises(sdk.RateLimitError) as raised:
            client.conversations.send(recipient="+15550104404", channel="sms", text="second")
    error = raised.value
    assert (error.status_code, error.code) == (429, "rate_limited")
    assert error.retry_after is not None and error.retry_after > 5
    assert error.request_id


def test_lists_iterate_over_every_page(sdk: ModuleType, credentials: Credentials) -> None:
    with credentials.client(sdk) as client:
        sent = [
            client.conversations.send(recipient=f"+1555010450{n}", channel="sms", text=f"n{n}")
            for n in range(5)
        ]
        since = sent[0].created_at
        pages = list(client.conversations.list(created_after=since, limit=2).pages())
        listed = list(client.conversations.list(created_after=since, limit=2))
        messages = list(client.messages.list(created_after=since, direction="outbound", limit=3))
    assert [len(p.data) for p in pages] == [2, 2, 1]
    assert [p.has_more for p in pages] == [True, True, False]
    # newest first, every one exactly once
    assert [c.id for c in listed] == [s.id for s in reversed(sent)]
    assert [m.id for m in messages] == [s.message.id for s in reversed(sent)]


def test_media_upload_then_send_by_its_url(sdk: ModuleType, credentials: Credentials) -> None:
    with credentials.client(sdk) as client:
        media = client.media.upload(PNG, filename="dot.png", channel="whatsapp")
        assert (media.media_type, media.content_type, media.size) == (
            "image",
            "image/png",
            len(PNG),
        )
        assert media.original_name == "dot.png" and media.origin == "upload"
        assert client.media.retrieve(media.id).sha256 == media.sha256
        listed = client.media.list(media_type="image", created_after=media.created_at)
        assert [m.id for m in listed] == [media.id]
        sent = client.conversations.send(
            recipient="+15550104501",
            channel="whatsapp",
            media_url=media.media_url,
            media_type="image",
            text="A dot",
        )
        assert sent.message.media_type == "image"
        assert httpx.get(media.media_url, timeout=20).content == PNG
        client.media.delete(media.id)
        with pytest.raises(sdk.NotFoundError):
            client.media.retrieve(media.id)


def test_errors_are_typed_with_code_field_and_request_id(
    sdk: ModuleType, stack: Stack, credentials: Credentials
) -> None:
    with (
        sdk.Engium(
            api_key="wrong", tenant_id=credentials.tenant_id, base_url=stack.base_url
        ) as client,
        pytest.raises(sdk.AuthenticationError) as unauthenticated,
    ):
        list(client.conversations.list())
    assert unauthenticated.value.code == "authentication_failed"
    assert unauthenticated.value.status_code == 401
    assert unauthenticated.value.request_id.startswith("req_")
    with credentials.client(sdk) as client:
        with pytest.raises(sdk.ValidationError) as invalid:
            client.conversations.send(recipient="+1", channel="sms", text="x")
        assert (invalid.value.code, invalid.value.field) == ("invalid_recipient", "recipient")
        with pytest.raises(sdk.NotFoundError) as missing:
            client.messages.retrieve("msg_0000000000000000000000000a")
        assert missing.value.code == "not_found"
        client.conversations.send(
            recipient="+15550104601", channel="sms", text="a", idempotency_key="same"
        )
        with pytest.raises(sdk.ConflictError) as conflict:
            client.conversations.send(
                recipient="+15550104601", channel="sms", text="b", idempotency_key="same"
            )
        assert conflict.value.code == "idempotency_conflict"
        assert isinstance(conflict.value, sdk.EngiumError)


def test_every_resource_round_trips(sdk: ModuleType, credentials: Credentials) -> None:
    with credentials.client(sdk) as client:
        sms = next(iter(client.integrations.list(channel="sms")))
        assert client.integrations.test(sms.id).verification == "verified"
        renamed = client.integrations.update(sms.id, name="SMS sandbox")
        assert renamed.name == "SMS sandbox"
        inbound = client.integrations.sandbox_inbound(sms.id, from_="+15550104701", text="Hi")
        assert inbound.direction == "inbound"
        conversation = client.conversations.retrieve(inbound.conversation_id)
        assert [m.id for m in conversation.messages] == [inbound.id]
        assert client.conversations.close(conversation.id).status == "closed"

        template = client.templates.create(
            name="order_ready",
            category="utility",
            bodies={"en": "Hi {{name}}, order {{order}} is ready."},
        )
        assert template.variables == ["name", "order"]
        assert template.languages["en"].status == "approved"
        by_template = client.conversations.send(
            recipient="+15550104702",
            channel="sms",
            template_id=template.id,
            language="en",
            variables={"name": "Ada", "order": "42"},
        )
        assert by_template.message.text == "Hi Ada, order 42 is ready."
        assert client.templates.update(
            template.id, examples={"name": "Ada", "order": "42"}
        ).examples
        client.templates.delete(template.id)

        role = client.agent_roles.create(
            name="Support",
            instructions="Answer questions about orders.",
            knowledge=[{"question": "opening hours", "answer": "9 to 5"}],
        )
        assert client.agent_roles.retrieve(role.id).knowledge[0].answer == "9 to 5"
        assert client.agent_roles.update(role.id, greeting="Hello!").greeting == "Hello!"
        assert role.id in [r.id for r in client.agent_roles.list()]
        client.agent_roles.delete(role.id)

        key = client.api_keys.create(name="ci")
        assert key.key and client.api_keys.retrieve(key.id).prefix == key.prefix
        assert client.api_keys.revoke(key.id).revoked_at is not None

        endpoint = client.webhooks.create(url="http://127.0.0.1:9/hook", events=["*"])
        rotated = client.webhooks.rotate_secret(endpoint.id)
        assert rotated.secret != endpoint.secret and rotated.previous_secret_valid_until
        assert client.webhooks.secret(endpoint.id).secret == rotated.secret
        test_delivery = client.webhooks.test(endpoint.id)
        assert test_delivery.event_type == "webhook.test"
        assert (
            client.webhooks.deliveries.retrieve(endpoint.id, test_delivery.id).id
            == test_delivery.id
        )
        assert client.webhooks.deliveries.replay(endpoint.id, test_delivery.id).status == "pending"
        replayed = client.webhooks.replay(
            endpoint.id, since="2020-01-01T00:00:00Z", until="2100-01-01T00:00:00Z"
        )
        assert replayed.replayed >= 0
        assert client.webhooks.update(endpoint.id, enabled=False).enabled is False
        client.webhooks.delete(endpoint.id)


def test_the_async_client(sdk: ModuleType, credentials: Credentials) -> None:
    async def scenario() -> tuple[Any, list[Any]]:
        async with sdk.AsyncEngium(
            api_key=credentials.api_key,
            tenant_id=credentials.tenant_id,
            base_url=credentials.base_url,
        ) as client:
            sent = await client.conversations.send(
                recipient="+15550104801", channel="voice", text="Async hello"
            )
            listed = [m async for m in client.messages.list(conversation_id=sent.id, limit=1)]
            return await client.messages.retrieve(sent.message.id), listed

    message, listed = asyncio.run(scenario())
    assert message.channel == "voice" and [m.id for m in listed] == [message.id]


def test_every_model_matches_the_live_openapi_schema(sdk: ModuleType, stack: Stack) -> None:
    import dataclasses

    schema = httpx.get(f"{stack.base_url}/api/v1/schema/?format=json", timeout=20).json()
    components = schema["components"]["schemas"]
    models = [
        cls
        for cls in vars(sdk.models).values()
        if isinstance(cls, type) and issubclass(cls, sdk.models.Model) and cls.schema_name
    ]
    assert len(models) >= 20
    for model in models:
        fields = {f.name for f in dataclasses.fields(model) if not f.metadata.get("sdk")}
        assert fields == set(components[model.schema_name]["properties"]), model.__name__
    # and every object the API answers with has its model
    answered = {
        content["schema"]["$ref"].rsplit("/", 1)[-1]
        for path in schema["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict)
        for status, response in operation.get("responses", {}).items()
        if status.startswith("2")
        for content in response.get("content", {}).values()
        if "$ref" in content.get("schema", {})
    }
    pages = {name for name in answered if name.endswith("Page")}
    items = {
        components[name]["properties"]["data"]["items"]["$ref"].rsplit("/", 1)[-1] for name in pages
    }
    modelled = {model.schema_name for model in models}
    assert (answered - pages) | items <= modelled
