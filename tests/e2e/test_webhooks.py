"""Webhooks through the real stack: web, worker, beat (the sweep) and broker."""

from __future__ import annotations

from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.e2e.conftest import Stack, Tenant, free_port, wait_until
from tests.http_server import ScriptedServer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


def _endpoint(tenant: Tenant, url: str, events: list[str]) -> dict[str, Any]:
    answer = tenant.client.post("webhooks", json={"url": url, "events": events})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_the_first_message_is_followed_by_delivered_and_read_webhooks(
    stack: Stack, live_tenant: Tenant
) -> None:
    with ScriptedServer() as receiver:
        endpoint = _endpoint(
            live_tenant,
            f"{receiver.url}/engium",
            ["conversation.message.delivered", "conversation.message.read"],
        )
        answer = live_tenant.client.post(
            "conversations/send",
            json={
                "recipient": "+15550102999",
                "channel": "whatsapp",
                "message": {"text": "Hello from Engium! How can we help you today?"},
            },
        )
        assert answer.status_code == 201, answer.text
        message_id = answer.json()["message"]["id"]
        try:
            wait_until(lambda: len(receiver.received) >= 2, 60, "two webhooks")
        except AssertionError:
            print(stack.logs())
            raise
        verifier = Webhook(endpoint["secret"])
        payloads = [verifier.verify(r.body, r.headers) for r in receiver.received]
        assert [p["type"] for p in payloads] == [
            "conversation.message.delivered",
            "conversation.message.read",
        ]
        assert [(p["data"]["id"], p["data"]["status"]) for p in payloads] == [
            (message_id, "delivered"),
            (message_id, "read"),
        ]


def test_a_receiver_down_while_the_worker_restarts_still_gets_every_event(
    stack: Stack, live_tenant: Tenant
) -> None:
    port = free_port()  # nothing listens there yet: every attempt is refused
    endpoint = _endpoint(live_tenant, f"http://127.0.0.1:{port}/hook", ["*"])
    sent = []
    for n in range(3):
        answer = live_tenant.client.post(
            "conversations/send",
            json={"recipient": f"+1555010300{n}", "channel": "sms", "message": {"text": "hi"}},
        )
        assert answer.status_code == 201, answer.text
        sent.append(answer.json()["message"]["id"])

    def deliveries() -> list[dict[str, Any]]:
        page = live_tenant.client.get(f"webhooks/{endpoint['id']}/deliveries?limit=100")
        assert page.status_code == 200, page.text
        return list(page.json()["data"])

    # every event so far has failed at least once
    try:
        wait_until(
            lambda: len(deliveries()) >= 9 and all(d["attempt_count"] >= 1 for d in deliveries()),
            60,
            "failed first attempts",
        )
    except AssertionError:
        print([(d["event_type"], d["attempt_count"]) for d in deliveries()], stack.logs())
        raise
    worker = stack.processes["worker"]
    worker.terminate()
    worker.wait(20)
    stack._spawn("worker", worker.args)  # type: ignore[arg-type]

    with ScriptedServer(port=port) as receiver:
        try:
            wait_until(
                lambda: all(d["status"] == "succeeded" for d in deliveries()), 90, "all delivered"
            )
        except AssertionError:
            print(stack.logs())
            raise
        owed = {d["id"] for d in deliveries()}
        verifier = Webhook(endpoint["secret"])
        got = {
            verifier.verify(r.body, r.headers) and r.headers["webhook-id"]
            for r in receiver.received
        }
        assert got == owed
        # three conversations, each with its message sent and delivered (SMS has no `read`)
        types = [verifier.verify(r.body, r.headers)["type"] for r in receiver.received]
        for kind in ("created", "message.sent", "message.delivered"):
            assert types.count(f"conversation.{kind}") == 3, types
