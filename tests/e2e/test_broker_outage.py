"""Nothing accepted is lost: a message accepted while the broker is down goes out later."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import Stack, Tenant, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


def _message(tenant: Tenant, message_id: str) -> dict:
    answer = tenant.client.get(f"messages/{message_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_message_accepted_while_broker_is_down_is_delivered_after(
    stack: Stack, live_tenant: Tenant
) -> None:
    # given: the broker is down
    stack.broker.stop()
    try:
        # when: a message is sent
        started = time.monotonic()
        answer = live_tenant.client.post(
            "conversations/send",
            json={"recipient": "+15550102999", "channel": "whatsapp", "message": {"text": "hi"}},
        )
        took = time.monotonic() - started

        # then: it is accepted (not a 500), promptly, and stays queued while the broker is away
        assert answer.status_code == 201, answer.text
        assert took < 10, f"the send waited {took:.1f}s on the dead broker"
        message_id = answer.json()["message"]["id"]
        time.sleep(3)
        assert _message(live_tenant, message_id)["status"] == "queued"
    finally:
        stack.broker.start()

    # and once the broker is back, the sweep dispatches it and the worker delivers it (a
    # worker that died of the lost connection is started again, as its supervisor would)
    def read() -> bool:
        stack.revive()
        return bool(_message(live_tenant, message_id)["status"] == "read")

    try:
        wait_until(read, 60, "read")
    except AssertionError:
        print(stack.logs())
        raise
    message = _message(live_tenant, message_id)
    statuses = [step["status"] for step in message["status_history"]]
    assert statuses == ["queued", "sending", "sent", "delivered", "read"]
    assert message["attempts"] == 1, "sent exactly once"


def test_message_whose_worker_was_down_is_delivered_when_a_worker_returns(
    stack: Stack, live_tenant: Tenant
) -> None:
    # given: no worker runs
    worker = stack.processes["worker"]
    worker.terminate()
    worker.wait(20)
    try:
        answer = live_tenant.client.post(
            "conversations/send",
            json={"recipient": "+15550102998", "channel": "sms", "message": {"text": "hi"}},
        )
        assert answer.status_code == 201, answer.text
        message_id = answer.json()["message"]["id"]
        time.sleep(2)
        assert _message(live_tenant, message_id)["status"] == "queued"
    finally:
        # when: a worker comes back
        stack._spawn("worker", worker.args)  # type: ignore[arg-type]

    # then
    wait_until(lambda: _message(live_tenant, message_id)["status"] == "delivered", 60, "delivered")
    assert _message(live_tenant, message_id)["attempts"] == 1
