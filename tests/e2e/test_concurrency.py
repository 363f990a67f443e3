"""Concurrent sends through real web processes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import Stack, Tenant

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


def test_concurrent_first_sends_to_one_recipient_open_one_conversation(
    stack: Stack, live_tenant: Tenant
) -> None:
    body = {"recipient": "+15550107777", "channel": "sms", "message": {"text": "hi"}}

    # when: 16 sends race to open the recipient's first conversation
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(lambda _: live_tenant.client.post("conversations/send", json=body), range(16))
        )

    # then: all accepted, one conversation, sixteen distinct messages in it
    assert [answer.status_code for answer in answers] == [201] * 16
    conversations = {answer.json()["id"] for answer in answers}
    assert len(conversations) == 1
    messages = {answer.json()["message"]["id"] for answer in answers}
    assert len(messages) == 16
    listed = live_tenant.client.get(
        "messages", params={"conversation_id": conversations.pop(), "limit": 100}
    ).json()
    assert {row["id"] for row in listed["data"]} == messages
