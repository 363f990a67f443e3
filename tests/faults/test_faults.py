"""Faults under load, on a stack of real processes: nothing accepted is lost, nothing is sent
twice, every event raised is delivered, and no fault turns into 500s.

Each test streams sends (each with a text of its own) while it breaks one part, then counts:

* accepted (201) = handed to the provider (`sent`) or failed with a reason; a refused send
  (503 while the database restarts) created nothing and reached no provider;
* messages the provider took twice = 0 (the fake Twilio counts each text);
* events delivered to the webhook receiver = events raised (distinct `webhook-id`s);
* answers with status 500 = 0.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.conftest import wait_until
from tests.faults.conftest import CountingTwilio, FaultStack, FaultTenant, receiver
from tests.http_server import ScriptedServer

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

FINAL = {"sent", "delivered", "read", "failed", "undelivered"}


class Stream:
    """Sends ``count`` messages from a thread, about ``per_second`` a second."""

    def __init__(self, tenant: FaultTenant, name: str, count: int, per_second: float) -> None:
        self.tenant, self.name, self.count, self.per_second = tenant, name, count, per_second
        self.answers: dict[str, int] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for n in range(self.count):
            text = f"{self.name} {n}"
            try:
                answer = self.tenant.client.post(
                    "conversations/send",
                    json={
                        "recipient": f"+155501{n % 100:02d}{n // 100:03d}",
                        "channel": "sms",
                        "message": {"text": text},
                    },
                )
                self.answers[text] = answer.status_code
            except Exception:  # the connection itself failed: nothing was accepted
                self.answers[text] = 0
            time.sleep(1 / self.per_second)

    def __enter__(self) -> Stream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(120)

    def accepted(self) -> set[str]:
        return {text for text, status in self.answers.items() if status == 201}


def webhook_endpoint(tenant: FaultTenant, port: int) -> dict[str, Any]:
    answer = tenant.client.post(
        "webhooks", json={"url": f"http://127.0.0.1:{port}/hook", "events": ["*"]}
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def received_ids(server: ScriptedServer) -> set[str]:
    return {r.headers["webhook-id"] for r in server.received if "webhook-id" in r.headers}


def settle_and_count(
    stack: FaultStack,
    tenant: FaultTenant,
    twilio: CountingTwilio,
    stream: Stream,
    hooks: ScriptedServer,
) -> None:
    accepted = stream.accepted()
    assert accepted, stream.answers

    def settled() -> bool:
        messages = tenant.messages()
        return all(messages.get(text, ("", ""))[0] in FINAL for text in accepted)

    wait_or_dump(stack, settled, 120, "every accepted message handed over or failed")
    messages = tenant.messages()
    taken = twilio.times_taken()
    # nothing lost: each accepted message was handed to the provider, or failed with a reason
    for text in accepted:
        status, error = messages[text]
        assert status == "sent" or (status == "failed" and error), (text, status, error)
    # nothing sent twice
    assert [text for text, times in taken.items() if times > 1] == []
    assert set(taken) <= accepted
    assert {text for text in accepted if messages[text][0] == "sent"} <= set(taken)
    # a refused send created nothing
    assert set(messages) == accepted
    # no 500s
    assert Counter(stream.answers.values())[500] == 0, Counter(stream.answers.values())
    # every event raised reached the receiver
    wait_or_dump(
        stack, lambda: received_ids(hooks) >= tenant.events(), 120, "every event delivered"
    )
    assert received_ids(hooks) == tenant.events()


def wait_or_dump(stack: FaultStack, check: Callable[[], bool], seconds: float, what: str) -> None:
    def supervised() -> bool:
        stack.revive()  # as systemd would: a process that exited is started again
        return check()

    try:
        wait_until(supervised, seconds, what, interval=0.5)
    except AssertionError:
        print(stack.logs())
        raise


def test_a_worker_killed_between_the_providers_answer_and_the_commit(
    fault_stack: FaultStack, twilio: CountingTwilio, receiver_port: int
) -> None:
    tenant = fault_stack.tenant("faults worker killed", twilio)
    with receiver(receiver_port) as hooks:
        webhook_endpoint(tenant, receiver_port)
        with Stream(tenant, "killed", count=20, per_second=10) as stream:
            time.sleep(0.5)
            twilio.kill_next.set()  # the next message's worker dies once Twilio has it
        assert twilio.killed.wait(30), "no worker was killed"
        settle_and_count(fault_stack, tenant, twilio, stream, hooks)
        assert set(stream.answers.values()) == {201}
        # the killed attempt's outcome was asked of Twilio before anything was sent again
        assert any(r.method == "GET" and "Messages.json" in r.path for r in twilio.received)


def test_postgresql_restarted_during_a_stream_of_sends(
    fault_stack: FaultStack, twilio: CountingTwilio, receiver_port: int
) -> None:
    tenant = fault_stack.tenant("faults postgres restart", twilio)
    with receiver(receiver_port) as hooks:
        webhook_endpoint(tenant, receiver_port)
        with Stream(tenant, "pg restart", count=40, per_second=8) as stream:
            time.sleep(1.5)
            fault_stack.postgres.restart()
        # while it restarted, sends were refused with 503 (to retry), never 500
        assert set(stream.answers.values()) <= {201, 503}, Counter(stream.answers.values())
        settle_and_count(fault_stack, tenant, twilio, stream, hooks)


def test_redis_stopped_and_restarted_during_a_stream_of_sends(
    fault_stack: FaultStack, twilio: CountingTwilio, receiver_port: int
) -> None:
    tenant = fault_stack.tenant("faults redis restart", twilio)
    with receiver(receiver_port) as hooks:
        webhook_endpoint(tenant, receiver_port)
        with Stream(tenant, "redis restart", count=40, per_second=8) as stream:
            time.sleep(1.0)
            fault_stack.redis.stop()  # cache, rate limiter and broker at once
            time.sleep(2.5)
            fault_stack.redis.start()
        # the cache and the limiter fail open, the outbox keeps what it could not publish:
        # every send was accepted
        assert set(stream.answers.values()) == {201}, Counter(stream.answers.values())
        # (a worker that died of the lost broker connection is restarted by its supervisor)
        settle_and_count(fault_stack, tenant, twilio, stream, hooks)
        print(f"processes restarted by the supervisor: {fault_stack.revived}")


def test_a_webhook_receiver_down_across_a_worker_restart(
    fault_stack: FaultStack, twilio: CountingTwilio, receiver_port: int
) -> None:
    tenant = fault_stack.tenant("faults receiver down", twilio)
    webhook_endpoint(tenant, receiver_port)  # nothing listens there yet
    with Stream(tenant, "receiver down", count=5, per_second=10) as stream:
        pass

    def every_delivery_failed_once() -> bool:
        rows = fault_stack.query(
            f'SELECT count(*), count(*) FILTER (WHERE attempts >= 1) FROM "{tenant.schema}".'
            "webhooks_delivery"
        )
        total, tried = rows[0]
        return bool(total) and total == tried and total >= len(tenant.events())

    wait_or_dump(fault_stack, every_delivery_failed_once, 60, "every delivery tried and failed")
    fault_stack.restart("worker")
    with receiver(receiver_port) as hooks:
        settle_and_count(fault_stack, tenant, twilio, stream, hooks)
