"""A worker killed after the provider accepted a message, before it recorded that: never twice.

Twilio takes no idempotency key. The fake Twilio accepts the message, then SIGKILLs the
worker process that is calling it, before that process can read the answer or commit.
Twilio's `sent` callback (its URL carries our message ID) then tells Engium the message
was accepted, and neither the requeued task nor the sweep after the lease sends it again.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import psutil
import pytest

from integrations.providers.twilio import signature
from tests.e2e.conftest import Stack, Tenant, wait_until
from tests.fakes import AUTH_TOKEN, FakeTwilio, fixture, form_of
from tests.http_server import Received

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


class KillingTwilio(FakeTwilio):
    """Accepts every message; the first time, kills the calling process before answering."""

    def __init__(self) -> None:
        super().__init__()
        self.killed = threading.Event()
        self.accepted: list[tuple[dict[str, str], str]] = []

    def _created(self, received: Received) -> Any:
        answer = super()._created(received)
        self.accepted.append((form_of(received), answer["sid"]))
        if not self.killed.is_set():
            for conn in psutil.net_connections(kind="tcp"):
                caller = conn.laddr and conn.laddr.port == received.peer_port
                if caller and conn.pid and conn.pid != os.getpid():
                    os.kill(conn.pid, signal.SIGKILL)
                    self.killed.set()
        return answer


@pytest.fixture
def killing_twilio() -> Iterator[KillingTwilio]:
    with KillingTwilio() as server:
        yield server


def test_a_worker_killed_after_the_provider_answered_never_sends_twice(
    stack: Stack, live_tenant: Tenant, killing_twilio: KillingTwilio
) -> None:
    created = live_tenant.client.post(
        "integrations",
        json={
            "channel": "sms",
            "provider": "twilio",
            "config": killing_twilio.config(),
            "is_default": True,
        },
    )
    assert created.status_code == 201, created.text

    # when: a send's worker process dies the moment Twilio has accepted the message
    sent = live_tenant.client.post(
        "conversations/send",
        json={"recipient": "+15550104444", "channel": "sms", "message": {"text": "once"}},
    )
    assert sent.status_code == 201, sent.text
    message_id = sent.json()["message"]["id"]
    try:
        assert killing_twilio.killed.wait(30), "the fake provider never saw the send"
    except AssertionError:
        print(stack.logs())
        raise
    (form, sid), *_ = killing_twilio.accepted

    # and Twilio reports it sent, to the status URL it was given (with our message ID)
    callback_url = form["StatusCallback"]
    assert parse_qs(urlsplit(callback_url).query)["message_id"] == [message_id]
    params = {**fixture("twilio", "status__sent"), "MessageSid": sid}
    answer = httpx.post(
        callback_url,
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature(
                AUTH_TOKEN, callback_url, {k: [v] for k, v in params.items()}
            ),
        },
    )
    assert answer.status_code == 204, answer.text

    # then: the message is sent, with Twilio's SID, and stays sent once
    def message() -> dict[str, Any]:
        body: dict[str, Any] = live_tenant.client.get(f"messages/{message_id}").json()
        return body

    wait_until(lambda: message()["status"] == "sent", 30, "sent")
    time.sleep(12)  # past the lease (5 s) and the sweep's redispatch (3 s), twice over
    bodies = [f["Body"] for f, _ in killing_twilio.accepted]
    assert bodies == ["once"], "the provider was given the message more than once"
    final = message()
    assert final["status"] == "sent" and final["attempts"] == 1
