"""Concurrent sends with one Idempotency-Key through gunicorn create exactly one message."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import Stack, Tenant

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


def test_parallel_requests_with_one_key_create_one_message(
    stack: Stack, live_tenant: Tenant
) -> None:
    body = {"recipient": "+15550104242", "channel": "sms", "message": {"text": "exactly once"}}
    headers = dict(live_tenant.client.headers) | {"Idempotency-Key": "checkout-77"}

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=str(live_tenant.client.base_url), timeout=30) as client:
            return client.post("conversations/send", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(post, range(12)))

    assert {answer.status_code for answer in answers} == {201}, [a.text for a in answers]
    message_ids = {answer.json()["message"]["id"] for answer in answers}
    assert len(message_ids) == 1
    assert sum("Idempotent-Replayed" in answer.headers for answer in answers) == 11
    listed = live_tenant.client.get("messages", params={"recipient": "+15550104242"}).json()
    assert [message["id"] for message in listed["data"]] == list(message_ids)
