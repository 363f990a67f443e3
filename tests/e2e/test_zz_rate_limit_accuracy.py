"""The send limit is exact under concurrency: many threads on several gunicorn processes.

Named to run last of the end-to-end tests: its 3,120 sends leave the stack's worker a
backlog of deliveries that would hold up the tests after it, which wait on that worker.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import BASE_DIR, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


def _tenant(stack: Stack, plan: str) -> dict[str, Any]:
    output = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "create_tenant",
            "--name",
            f"e2e limit {plan}",
            "--plan",
            plan,
            "--json",
        ],
        env=stack.env,
        cwd=BASE_DIR,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    created: dict[str, Any] = json.loads(output)
    with httpx.Client(base_url=f"{stack.base_url}/api/v1/", headers=_auth(created)) as client:
        answer = client.post(
            "integrations", json={"channel": "sms", "provider": "sandbox", "config": {}}
        )
        assert answer.status_code == 201, answer.text
    return created


def _auth(created: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {created['api_key']}", "X-Tenant-ID": created["tenant_id"]}


@pytest.mark.parametrize(("plan", "limit"), [("free", 100), ("starter", 500), ("pro", 2000)])
def test_accepted_sends_match_the_limit_under_concurrency(
    stack: Stack, plan: str, limit: int
) -> None:
    created = _tenant(stack, plan)
    attempts = limit + limit // 5  # 20 % over the limit, all within one window

    def send(index: int, client: httpx.Client) -> int:
        body = {"recipient": f"+1555{index:07d}", "channel": "sms", "message": {"text": "burst"}}
        return client.post("conversations/send", json=body).status_code

    with (
        httpx.Client(
            base_url=f"{stack.base_url}/api/v1/",
            headers=_auth(created),
            timeout=60,
            limits=httpx.Limits(max_connections=16),
        ) as client,
        ThreadPoolExecutor(max_workers=16) as pool,
    ):
        statuses = list(pool.map(lambda index: send(index, client), range(attempts)))

    accepted = statuses.count(201)
    assert set(statuses) <= {201, 429}, sorted(set(statuses))
    assert 0.98 <= accepted / limit <= 1.02, (accepted, limit)
