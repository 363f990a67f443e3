"""Concurrent changes to one channel's integrations through real web processes."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack, Tenant

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


def test_creates_updates_default_switches_and_deletes_never_answer_500(
    stack: Stack, live_tenant: Tenant
) -> None:
    ids: list[str] = []
    client = httpx.Client(
        base_url=str(live_tenant.client.base_url), headers=live_tenant.client.headers, timeout=30
    )

    def act(step: int) -> int:
        rng = random.Random(step)
        choice = step % 5
        target = rng.choice(ids) if ids else None
        answer: Any
        if choice == 0 or target is None:
            answer = client.post(
                "integrations",
                json={"channel": "sms", "provider": "sandbox", "is_default": rng.random() < 0.5},
            )
            if answer.status_code == 201:
                ids.append(answer.json()["id"])
        elif choice == 1:
            answer = client.patch(f"integrations/{target}", json={"is_default": True})
        elif choice == 2:
            answer = client.patch(f"integrations/{target}", json={"status": "disabled"})
        elif choice == 3:
            answer = client.patch(f"integrations/{target}", json={"status": "active"})
        else:
            answer = client.delete(f"integrations/{target}")
        return int(answer.status_code)

    # when: 120 changes race on one channel from 12 threads
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(act, range(120)))
    client.close()

    # then: only 2xx and 4xx answers
    assert all(200 <= code < 500 for code in statuses), sorted(set(statuses))
    # and, once an integration is active, exactly one default, an active one
    live_tenant.client.post("integrations", json={"channel": "sms", "provider": "sandbox"})
    listed = live_tenant.client.get("integrations", params={"channel": "sms", "limit": 100})
    rows = listed.json()["data"]
    defaults = [row for row in rows if row["is_default"]]
    assert len(defaults) == 1, rows
    assert defaults[0]["status"] == "active"
