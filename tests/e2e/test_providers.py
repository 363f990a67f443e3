"""Twilio and WhatsApp Cloud end to end: send, status callback, inbound, through real processes.

The fake provider APIs run in the test process on 127.0.0.1; the worker calls them, and the
test plays the provider's side of the callbacks against gunicorn with real signatures.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from integrations.providers.twilio import signature
from integrations.providers.whatsapp_cloud import hub_signature
from tests.e2e.conftest import Stack, Tenant, wait_until
from tests.fakes import (
    APP_SECRET,
    AUTH_TOKEN,
    BUSINESS_ACCOUNT_ID,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    FakeGraph,
    FakeTwilio,
    fixture,
    form_of,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def graph_api() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        yield server


def _message(tenant: Tenant, message_id: str) -> dict[str, object]:
    answer = tenant.client.get(f"messages/{message_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def _connect(
    tenant: Tenant, channel: str, provider: str, config: dict[str, object]
) -> dict[str, object]:
    answer = tenant.client.post(
        "integrations",
        json={"channel": channel, "provider": provider, "config": config, "is_default": True},
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, object] = answer.json()
    return body


def _inbound_texts(tenant: Tenant) -> list[str]:
    rows = tenant.client.get("messages", params={"direction": "inbound", "limit": 100}).json()
    return [row["text"] for row in rows["data"] if row["direction"] == "inbound"]


def test_twilio_sms_send_status_and_inbound(
    stack: Stack, live_tenant: Tenant, twilio_api: FakeTwilio
) -> None:
    integration = _connect(live_tenant, "sms", "twilio", twilio_api.config())
    urls = integration["callback_urls"]
    assert isinstance(urls, dict)
    assert (
        urls["status"] == f"{stack.base_url}/callbacks/{live_tenant.id}/{integration['id']}/status"
    )
    tested = live_tenant.client.post(f"integrations/{integration['id']}/test").json()
    assert tested["verification"] == "verified"

    # send: the worker posts to Twilio's Messages API
    sent = live_tenant.client.post(
        "conversations/send",
        json={"recipient": "+15550102999", "channel": "sms", "message": {"text": "Hi"}},
    )
    assert sent.status_code == 201, sent.text
    message_id = sent.json()["message"]["id"]
    try:
        wait_until(lambda: _message(live_tenant, message_id)["status"] == "sent", 30, "sent")
    except AssertionError:
        print(stack.logs())
        raise
    form = form_of(twilio_api.received[-1])
    assert form["StatusCallback"] == f"{urls['status']}?message_id={message_id}"
    assert form["Body"] == "Hi"

    # status callback, signed like Twilio, about the SID the fake answered with
    status = {**fixture("twilio", "status__delivered"), "MessageSid": twilio_api.last_sid}
    answer = _post_form(urls["status"], status)
    assert answer.status_code == 204, answer.text
    wait_until(lambda: _message(live_tenant, message_id)["status"] == "delivered", 30, "delivered")

    # a forged callback changes nothing
    forged = httpx.post(
        urls["status"],
        content=urlencode({**status, "MessageStatus": "failed"}),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"},
    )
    assert forged.status_code == 403

    # inbound
    inbound = _post_form(urls["inbound"], fixture("twilio", "inbound__sms"))
    assert inbound.status_code == 200 and inbound.text == "<Response/>"
    assert inbound.headers["Content-Type"].startswith("text/xml")
    wait_until(lambda: "Hi, is my order on its way?" in _inbound_texts(live_tenant), 30, "inbound")


def _post_form(url: str, params: dict[str, str]) -> httpx.Response:
    sig = signature(AUTH_TOKEN, url, {k: [v] for k, v in params.items()})
    return httpx.post(
        url,
        content=urlencode(params),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig},
        timeout=20,
    )


def test_whatsapp_cloud_send_status_and_inbound(
    stack: Stack, live_tenant: Tenant, graph_api: FakeGraph
) -> None:
    # A free-form send to a recipient who never wrote: without the 24-hour window check.
    integration = _connect(
        live_tenant, "whatsapp", "whatsapp_cloud", graph_api.config(session_window=False)
    )
    urls = integration["callback_urls"]
    assert isinstance(urls, dict)
    events_url = urls["events"]
    assert "access_token" not in integration["config"]  # type: ignore[operator]

    # Meta's subscription check
    check = httpx.get(
        events_url,
        params={"hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": VERIFY_TOKEN},
    )
    assert check.status_code == 200 and check.text == "42"

    sent = live_tenant.client.post(
        "conversations/send",
        json={"recipient": "+15550102999", "channel": "whatsapp", "message": {"text": "Hi"}},
    )
    assert sent.status_code == 201, sent.text
    message_id = sent.json()["message"]["id"]
    try:
        wait_until(lambda: _message(live_tenant, message_id)["status"] == "sent", 30, "sent")
    except AssertionError:
        print(stack.logs())
        raise
    wamid = graph_api.last_wamid

    event = fixture("whatsapp_cloud", "status__read")
    event["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = wamid
    assert _post_json(events_url, event).status_code == 200
    wait_until(lambda: _message(live_tenant, message_id)["status"] == "read", 30, "read")

    forged = _post_json(events_url, fixture("whatsapp_cloud", "inbound__text"), secret="wrong")
    assert forged.status_code == 403

    assert _post_json(events_url, fixture("whatsapp_cloud", "inbound__text")).status_code == 200
    wait_until(lambda: "Hi, is my order on its way?" in _inbound_texts(live_tenant), 30, "inbound")


def _post_json(url: str, payload: object, *, secret: str = APP_SECRET) -> httpx.Response:
    body = json.dumps(payload).encode()
    return httpx.post(
        url,
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": hub_signature(secret, body),
        },
        timeout=20,
    )


def test_a_spanish_template_reviewed_by_meta_then_sent_by_id(
    stack: Stack, live_tenant: Tenant, graph_api: FakeGraph
) -> None:
    integration = _connect(
        live_tenant,
        "whatsapp",
        "whatsapp_cloud",
        graph_api.config(business_account_id=BUSINESS_ACCOUNT_ID),
    )
    events_url = integration["callback_urls"]["events"]  # type: ignore[index]
    created = live_tenant.client.post(
        "templates",
        json={
            "name": "order_update",
            "category": "utility",
            "bodies": {
                "en": "Hello {{first_name}}, order {{order_id}} shipped.",
                "es": "Pedido {{order_id}} enviado, {{first_name}}.",
            },
        },
    )
    assert created.status_code == 201, created.text
    template = created.json()
    assert template["languages"]["es"]["status"] == "pending"

    # the worker submits both languages to Graph (the request did not)
    def submitted() -> dict[str, dict[str, object]]:
        return {
            json.loads(r.body)["language"]: json.loads(r.body)
            for r in graph_api.received
            if r.method == "POST" and r.path.endswith("/message_templates")
        }

    wait_until(lambda: set(submitted()) == {"en", "es"}, 30, "templates submitted")
    assert submitted()["es"]["components"][0]["text"] == "Pedido {{1}} enviado, {{2}}."

    # not approved yet: a send is refused
    send = {
        "recipient": "+15550102999",
        "channel": "whatsapp",
        "message": {
            "template": {
                "id": template["id"],
                "language": "es",
                "variables": {"first_name": "Ana", "order_id": "42"},
            }
        },
    }
    refused = live_tenant.client.post("conversations/send", json=send)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "template_not_approved"

    # Meta approves the Spanish body (signed webhook, applied by the worker)
    event = fixture("whatsapp_cloud", "template_status__approved")
    value = event["entry"][0]["changes"][0]["value"]
    value.update(message_template_language="es", message_template_id=1)
    assert _post_json(events_url, event).status_code == 200

    def spanish_status() -> object:
        return live_tenant.client.get(f"templates/{template['id']}").json()["languages"]["es"][
            "status"
        ]

    wait_until(lambda: spanish_status() == "approved", 30, "approved")

    # sent by ID, in Spanish, as a WhatsApp template message
    sent = live_tenant.client.post("conversations/send", json=send)
    assert sent.status_code == 201, sent.text
    message = sent.json()["message"]
    assert message["text"] == "Pedido 42 enviado, Ana."
    assert message["template"] == {"id": template["id"], "language": "es"}
    wait_until(lambda: _message(live_tenant, message["id"])["status"] == "sent", 30, "sent")
    (request,) = [r for r in graph_api.received if r.path == f"/v21.0/{PHONE_NUMBER_ID}/messages"]
    assert json.loads(request.body)["template"] == {
        "name": "order_update",
        "language": {"code": "es"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "42"}, {"type": "text", "text": "Ana"}],
            }
        ],
    }
