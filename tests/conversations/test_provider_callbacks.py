"""Provider callbacks through `/callbacks/…`, then delivery through real adapters to fakes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import Client

from conversations.models import Message, MessageDirection
from conversations.services import deliver_message, process_callback
from integrations.models import CallbackState, Integration, ProviderCallback, ProviderLogEntry
from integrations.providers.twilio import signature
from integrations.providers.whatsapp_cloud import hub_signature
from tests.builders import create_integration, create_message, events_of
from tests.conftest import TenantFixture
from tests.fakes import APP_SECRET, AUTH_TOKEN, VERIFY_TOKEN, FakeGraph, FakeTwilio, fixture
from tests.http_server import Reply


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def graph_api() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        yield server


def _path(tenant: TenantFixture, integration: Integration, kind: str) -> str:
    return f"/callbacks/{tenant.id}/{integration.id}/{kind}"


def post_twilio(
    tenant: TenantFixture,
    integration: Integration,
    kind: str,
    params: dict[str, str],
    *,
    token: str = AUTH_TOKEN,
    sign: bool = True,
) -> Any:
    path = _path(tenant, integration, kind)
    url = settings.ENGIUM_PUBLIC_URL + path
    headers = {}
    if sign:
        headers["HTTP_X_TWILIO_SIGNATURE"] = signature(
            token, url, {k: [v] for k, v in params.items()}
        )
    return Client().post(
        path, data=urlencode(params), content_type="application/x-www-form-urlencoded", **headers
    )


def post_meta(
    tenant: TenantFixture, integration: Integration, payload: Any, *, secret: str = APP_SECRET
) -> Any:
    body = json.dumps(payload).encode()
    return Client().post(
        _path(tenant, integration, "events"),
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=hub_signature(secret, body),
    )


def process_all(tenant: TenantFixture) -> list[ProviderCallback]:
    with tenant.schema():
        done = [
            process_callback(pk) for pk in ProviderCallback.objects.values_list("pk", flat=True)
        ]
    return [callback for callback in done if callback is not None]


def twilio_sms(tenant: TenantFixture, fake: FakeTwilio) -> Integration:
    return create_integration(tenant, "sms", "twilio", is_default=True, **fake.config())


def whatsapp_cloud(tenant: TenantFixture, fake: FakeGraph) -> Integration:
    # These tests send free-form messages to recipients who never wrote: no 24-hour window
    # (tests/conversations/test_session_window.py covers it).
    return create_integration(
        tenant, "whatsapp", "whatsapp_cloud", is_default=True, **fake.config(session_window=False)
    )


# ------------------------------------------------------------------ delivery


def test_a_twilio_send_is_delivered_then_its_status_callback_applies(
    tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    integration = twilio_sms(tenant_a, twilio_api)
    queued = create_message(tenant_a, channel="sms")
    with tenant_a.schema():
        sent = deliver_message(queued.id)
    assert sent is not None and sent.status == "sent" and sent.provider_message_id.startswith("SM")
    form = dict(kv.split("=", 1) for kv in twilio_api.received[0].body.decode().split("&"))
    assert "StatusCallback" in form and tenant_a.id in form["StatusCallback"]

    params = {**fixture("twilio", "status__delivered"), "MessageSid": sent.provider_message_id}
    answer = post_twilio(tenant_a, integration, "status", params)
    assert answer.status_code == 204
    (callback,) = process_all(tenant_a)
    assert callback.state == CallbackState.APPLIED
    with tenant_a.schema():
        assert Message.objects.get(pk=queued.id).status == "delivered"
        # a late duplicate `sent` and an out-of-order repeat change nothing
        post_twilio(tenant_a, integration, "status", {**params, "MessageStatus": "sent"})
        post_twilio(tenant_a, integration, "status", params)
    process_all(tenant_a)
    with tenant_a.schema():
        message = Message.objects.get(pk=queued.id)
        assert message.status == "delivered"
        steps = list(message.status_history.values_list("status", flat=True))
    assert steps == ["queued", "sending", "sent", "delivered"]


def test_the_provider_log_keeps_each_call_with_secrets_redacted(
    tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    twilio_sms(tenant_a, twilio_api)
    queued = create_message(tenant_a, channel="sms")
    with tenant_a.schema():
        deliver_message(queued.id)
        (entry,) = ProviderLogEntry.objects.filter(message_id=queued.id)
    assert (
        entry.method == "POST" and entry.status_code == 201 and entry.url.endswith("/Messages.json")
    )
    assert "Body=Hello" in entry.request_body and '"sid"' in entry.response_body
    for text in (entry.url, entry.request_body, entry.response_body):
        assert AUTH_TOKEN not in text


def test_a_permanent_refusal_fails_the_message_with_the_providers_code(
    tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    twilio_sms(tenant_a, twilio_api)
    twilio_api.replies.append(Reply(status=400, body=fixture("twilio", "error__invalid_to")))
    queued = create_message(tenant_a, channel="sms")
    with tenant_a.schema():
        failed = deliver_message(queued.id)
    assert failed is not None and failed.status == "failed"
    assert failed.error_code == "21211" and "Invalid 'To'" in failed.error_message
    assert failed.attempts == 1


def test_meta_throttling_is_retried_later(tenant_a: TenantFixture, graph_api: FakeGraph) -> None:
    whatsapp_cloud(tenant_a, graph_api)
    graph_api.replies.append(Reply(status=400, body=fixture("whatsapp_cloud", "error__throughput")))
    queued = create_message(tenant_a, channel="whatsapp")
    with tenant_a.schema():
        retried = deliver_message(queued.id)
        assert retried is not None and retried.status == "sending"
        assert retried.error_code == "130429" and retried.next_attempt_at
        # not due yet: a duplicate task sends nothing
        assert deliver_message(queued.id) is None
    assert len(graph_api.received) == 1


def test_a_message_the_provider_accepted_is_never_sent_again(
    tenant_a: TenantFixture, graph_api: FakeGraph
) -> None:
    whatsapp_cloud(tenant_a, graph_api)
    queued = create_message(tenant_a, channel="whatsapp")
    with tenant_a.schema():
        assert deliver_message(queued.id) is not None
        for _ in range(3):  # retried or duplicated tasks
            assert deliver_message(queued.id) is None
    assert len(graph_api.received) == 1


# ------------------------------------------------------------------ signatures and routing


def test_bad_or_missing_signatures_are_403_and_store_nothing(
    tenant_a: TenantFixture, twilio_api: FakeTwilio, graph_api: FakeGraph
) -> None:
    twilio = twilio_sms(tenant_a, twilio_api)
    meta = whatsapp_cloud(tenant_a, graph_api)
    params = fixture("twilio", "inbound__sms")
    for answer in (
        post_twilio(tenant_a, twilio, "inbound", params, sign=False),
        post_twilio(tenant_a, twilio, "inbound", params, token="wrong"),
        post_meta(tenant_a, meta, fixture("whatsapp_cloud", "inbound__text"), secret="wrong"),
    ):
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "invalid_signature"
    with tenant_a.schema():
        assert not ProviderCallback.objects.exists()
        assert not Message.objects.filter(direction=MessageDirection.INBOUND).exists()


def test_unknown_tenant_integration_or_kind_is_one_404(
    tenant_a: TenantFixture, tenant_b: TenantFixture, twilio_api: FakeTwilio
) -> None:
    twilio = twilio_sms(tenant_a, twilio_api)
    client = Client()
    paths = [
        f"/callbacks/ten_00000000000000000000000000/{twilio.id}/status",
        f"/callbacks/{tenant_b.id}/{twilio.id}/status",  # another tenant's integration
        f"/callbacks/{tenant_a.id}/intg_00000000000000000000000000/status",
        f"/callbacks/{tenant_a.id}/{twilio.id}/events",  # not a kind Twilio posts
        f"/callbacks/nonsense/{twilio.id}/status",
        f"/callbacks/{tenant_a.id}/{tenant_a.integrations['sms']}/status",  # sandbox: none
    ]
    answers = [
        client.post(path, data="a=b", content_type="application/x-www-form-urlencoded")
        for path in paths
    ]
    assert {answer.status_code for answer in answers} == {404}
    assert len({answer.content for answer in answers}) == 1
    assert answers[0].json()["error"]["code"] == "not_found"


# ------------------------------------------------------------------ inbound


def test_twilio_inbound_sms_answers_empty_twiml_and_stores_the_message(
    tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    twilio = twilio_sms(tenant_a, twilio_api)
    answer = post_twilio(tenant_a, twilio, "inbound", fixture("twilio", "inbound__sms"))
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/xml") and answer.content == b"<Response/>"
    with tenant_a.schema():
        stored = ProviderCallback.objects.get()
    assert "X-Twilio-Signature" not in stored.headers and "Body=Hi" in stored.body
    (callback,) = process_all(tenant_a)
    assert callback.state == CallbackState.APPLIED
    with tenant_a.schema():
        inbound = Message.objects.get(direction=MessageDirection.INBOUND)
    assert inbound.text == "Hi, is my order on its way?" and inbound.status == "received"
    assert inbound.recipient == "+15550102999" and inbound.channel == "sms"
    assert [e.type for e in events_of(tenant_a, "conversation.message.received")]


def test_meta_subscription_check(tenant_a: TenantFixture, graph_api: FakeGraph) -> None:
    meta = whatsapp_cloud(tenant_a, graph_api)
    path = _path(tenant_a, meta, "events")
    query = {
        "hub.mode": "subscribe",
        "hub.challenge": "1158201444",
        "hub.verify_token": VERIFY_TOKEN,
    }
    good = Client().get(path, query)
    assert good.status_code == 200 and good.content == b"1158201444"
    bad = Client().get(path, {**query, "hub.verify_token": "guess"})
    assert bad.status_code == 403


def test_a_batched_meta_event_applies_every_status_and_message(
    tenant_a: TenantFixture, graph_api: FakeGraph
) -> None:
    meta = whatsapp_cloud(tenant_a, graph_api)
    queued = create_message(tenant_a, channel="whatsapp")
    with tenant_a.schema():
        sent = deliver_message(queued.id)
    assert sent is not None
    event = fixture("whatsapp_cloud", "event__batched")
    for entry in event["entry"]:
        for change in entry["changes"]:
            for status in change["value"].get("statuses", []):
                status["id"] = sent.provider_message_id
    assert post_meta(tenant_a, meta, event).status_code == 200
    (callback,) = process_all(tenant_a)
    assert callback.state == CallbackState.APPLIED
    with tenant_a.schema():
        assert Message.objects.get(pk=queued.id).status == "read"
        texts = list(
            Message.objects.filter(direction=MessageDirection.INBOUND)
            .order_by("id")
            .values_list("text", flat=True)
        )
    assert texts == ["first", "second"]


def test_inbound_media_is_kept_as_a_reference(
    tenant_a: TenantFixture, graph_api: FakeGraph
) -> None:
    meta = whatsapp_cloud(tenant_a, graph_api)
    post_meta(tenant_a, meta, fixture("whatsapp_cloud", "inbound__image"))
    process_all(tenant_a)
    with tenant_a.schema():
        inbound = Message.objects.get(direction=MessageDirection.INBOUND)
    assert inbound.media_type == "image" and inbound.text == "The receipt"
    assert inbound.details == {
        "type": "image",
        "media": {
            "id": "1003383421387256",
            "mime_type": "image/jpeg",
            "sha256": fixture("whatsapp_cloud", "inbound__image")["entry"][0]["changes"][0][
                "value"
            ]["messages"][0]["image"]["sha256"],
        },
    }


def test_unknown_events_are_stored_and_ignored(
    tenant_a: TenantFixture, graph_api: FakeGraph
) -> None:
    meta = whatsapp_cloud(tenant_a, graph_api)
    assert (
        post_meta(tenant_a, meta, fixture("whatsapp_cloud", "event__unknown_field")).status_code
        == 200
    )
    (callback,) = process_all(tenant_a)
    assert (
        callback.state == CallbackState.IGNORED and "phone_number_quality_update" in callback.notes
    )


def test_a_status_for_no_message_is_kept_pending_for_a_while(
    tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    twilio = twilio_sms(tenant_a, twilio_api)
    post_twilio(tenant_a, twilio, "status", fixture("twilio", "status__delivered"))
    (callback,) = process_all(tenant_a)
    assert callback.state == CallbackState.PENDING  # the send may not have committed yet


def test_a_status_naming_our_id_records_a_send_whose_outcome_was_lost(
    tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    from conversations.services.delivery import _claim

    twilio = twilio_sms(tenant_a, twilio_api)
    queued = create_message(tenant_a, channel="sms")
    with tenant_a.schema():
        # a worker claimed it, Twilio accepted it, and the worker died before recording that
        assert _claim(queued.id) is not None
    path = f"{_path(tenant_a, twilio, 'status')}?message_id={queued.id}"
    url = settings.ENGIUM_PUBLIC_URL + path
    params = {**fixture("twilio", "status__sent"), "MessageSid": "SM" + "c" * 32}
    answer = Client().post(
        path,
        data=urlencode(params),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=signature(AUTH_TOKEN, url, {k: [v] for k, v in params.items()}),
    )
    assert answer.status_code == 204
    process_all(tenant_a)
    with tenant_a.schema():
        message = Message.objects.get(pk=queued.id)
        assert message.status == "sent" and message.provider_message_id == "SM" + "c" * 32
        assert message.next_attempt_at is None
        assert deliver_message(queued.id) is None  # nothing due: never sent again
    assert twilio_api.received == []


def test_a_repeated_inbound_webhook_stores_the_message_once(
    tenant_a: TenantFixture, graph_api: FakeGraph
) -> None:
    meta = whatsapp_cloud(tenant_a, graph_api)
    for _ in range(2):  # Meta delivers webhooks at least once
        assert (
            post_meta(tenant_a, meta, fixture("whatsapp_cloud", "inbound__text")).status_code == 200
        )
    states = sorted(callback.state for callback in process_all(tenant_a))
    assert states == [CallbackState.APPLIED, CallbackState.IGNORED]
    with tenant_a.schema():
        assert Message.objects.filter(direction=MessageDirection.INBOUND).count() == 1
