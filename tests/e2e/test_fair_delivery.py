"""Fair delivery across tenants on the real stack: one tenant's backlog does not hold up another's.

Tenant A's 1,000 messages are accepted while no worker runs; a worker comes back and starts
on them; then tenant B sends one message. B's goes out behind at most A's messages in flight
(``ENGIUM_DELIVERY_TENANT_IN_FLIGHT``), not behind A's backlog, and A never has more than
that in flight (sampled while B's message waits). Order is read from the status history
(``sending`` steps, when a worker took each message; and ``sent`` steps), not from a
clock's durations.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import psycopg
import pytest
import redis
from django_tenants.utils import schema_context

from conversations.models import MessageStatusChange
from conversations.services.dispatch import in_flight
from tenants.models import Tenant as TenantRow
from tests.conftest import test_database_url
from tests.e2e.conftest import Stack, Tenant, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

BACKLOG = 1000


def _tenant(stack: Stack, name: str) -> tuple[Tenant, str]:
    tenant = Tenant(stack, stack.create_tenant(f"e2e {name}"))
    answer = tenant.client.post(
        "integrations", json={"channel": "whatsapp", "provider": "sandbox", "config": {}}
    )
    assert answer.status_code == 201, answer.text
    return tenant, TenantRow.objects.get(public_id=tenant.id).schema_name


def _send(tenant: Tenant, n: int) -> str:
    answer = tenant.client.post(
        "conversations/send",
        json={
            "recipient": f"+1555{n * 10 + 3:07d}",  # the sandbox fails numbers ending in 0001
            "channel": "whatsapp",
            "message": {"text": f"message {n}"},
        },
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["message"]["id"])


def _steps(schema: str, status: str) -> dict[str, datetime]:
    with schema_context(schema):
        return dict(
            MessageStatusChange.objects.filter(status=status).values_list(
                "message_id", "occurred_at"
            )
        )


def test_a_backlog_of_one_tenant_does_not_hold_up_another(stack: Stack, settings: Any) -> None:
    settings.ENGIUM_REDISPATCH_AFTER_SECONDS = float(stack.env["ENGIUM_REDISPATCH_AFTER_SECONDS"])
    limit = settings.ENGIUM_DELIVERY_TENANT_IN_FLIGHT
    a, schema_a = _tenant(stack, "fair A")
    b, schema_b = _tenant(stack, "fair B")

    # given: A's 1,000 messages accepted while no worker runs
    worker = stack.processes["worker"]
    worker.terminate()
    try:
        # A warm shutdown first records the webhooks each process has in flight (up to
        # ENGIUM_WEBHOOK_TIMEOUT_SECONDS + 5 s): earlier tests' receivers may still hold some.
        worker.wait(60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(10)
    try:
        with ThreadPoolExecutor(8) as pool:
            a_ids = list(pool.map(lambda n: _send(a, n), range(BACKLOG)))
    finally:
        stack._spawn("worker", worker.args)  # type: ignore[arg-type]
    in_flight_seen = []

    def a_sent(count: int) -> bool:
        with schema_context(schema_a):
            in_flight_seen.append(in_flight().count())
        return len(_steps(schema_a, "sent")) >= count

    # and a worker is working through them
    wait_until(lambda: a_sent(20), 60, "the worker started on A's backlog")

    # when: B sends one message
    b_id = _send(b, 0)

    # then: B's goes out before most of A's backlog, and A never has more than the limit of
    # its messages in flight meanwhile
    try:
        wait_until(lambda: a_sent(0) and b_id in _steps(schema_b, "sent"), 120, "B's sent")
    except AssertionError:
        print(stack.logs())
        raise
    b_queued, b_sent = _steps(schema_b, "queued")[b_id], _steps(schema_b, "sent")[b_id]
    b_taken = _steps(schema_b, "sending")[b_id]
    sent_a, taken_a = _steps(schema_a, "sent"), _steps(schema_a, "sending")
    backlog = [m for m in a_ids if m not in sent_a or sent_a[m] > b_queued]
    # Taken from the queue (claimed: the `sending` step) before B's: the queue's order. By
    # `sent` steps, the other worker process may also finish, while B's is being sent,
    # batches it took after B's.
    ahead_of_b = [m for m in backlog if m in taken_a and taken_a[m] < b_taken]
    out_before_b = [m for m in backlog if m in sent_a and sent_a[m] < b_sent]
    _stop_sending(schema_a, stack)  # the rest of A's backlog is no test's business
    assert len(backlog) > BACKLOG // 2, f"A's backlog when B sent was only {len(backlog)}"
    assert len(ahead_of_b) < limit + 2 * settings.ENGIUM_DELIVERY_BATCH, (
        f"{len(ahead_of_b)} of A's {len(backlog)} waiting messages were taken before B's"
    )
    assert len(out_before_b) < limit + 4 * settings.ENGIUM_DELIVERY_BATCH, (
        f"{len(out_before_b)} of A's {len(backlog)} waiting messages went out before B's"
    )
    assert 0 < max(in_flight_seen) <= limit


def _stop_sending(schema: str, stack: Stack) -> None:
    """Fail the tenant's messages still pending, committed (the test's own connection is in a
    transaction the processes cannot see), and wait for its batches still queued to run
    (as no-ops), so the stack is idle for the next tests."""
    with psycopg.connect(test_database_url(), autocommit=True) as conn:
        conn.execute(
            f"UPDATE {schema}.conversations_message SET status = 'failed', next_attempt_at = NULL"
            " WHERE status IN ('queued', 'sending')"
        )
    broker = redis.Redis.from_url(stack.broker.url)
    wait_until(lambda: broker.llen("delivery") == 0, 120, "the delivery queue drained")
