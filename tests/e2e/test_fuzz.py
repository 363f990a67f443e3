"""The fuzzer finds nothing: Schemathesis against the running stack, every operation, every phase.

Schemathesis (its CLI, configured by `schemathesis.toml` at the repository root) reads the
served OpenAPI schema and sends examples, boundary cases, random and deliberately invalid
requests, and chains of requests that follow the schema's links, to a tenant made for it.
Its checks: no 5xx, statuses, content types, headers and bodies as documented,
schema-violating requests refused, schema-valid ones accepted (except where the config says
why not), and `error_envelope` (tests/e2e/fuzz_checks.py). Bounded by a fixed seed and
example count. By hand: docs/operations.md#fuzzing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from tests.e2e.conftest import BASE_DIR, Stack, Tenant
from tests.http_server import ScriptedServer

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz, pytest.mark.django_db]

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
PHASES = ("Examples", "Coverage", "Fuzzing", "Stateful")


def _created(answer: Any) -> dict[str, Any]:
    assert answer.status_code in (201, 202), answer.text
    body: dict[str, Any] = answer.json()
    return body


def _seed(tenant: Tenant, receiver_url: str) -> dict[str, str]:
    """Data for the detail operations: IDs the fuzzer could not make up itself.

    Sandbox integrations and a conversation it finds through the schema's links and earlier
    answers; the conversation is also named for `resume-agent`, which no answer links to.
    Webhook endpoints it cannot create (their URL must resolve), so it is given two, with a
    delivery: one for every operation on an endpoint, one to delete.
    """
    client = tenant.client
    for channel in ("whatsapp", "sms", "voice"):
        _created(
            client.post(
                "integrations", json={"channel": channel, "provider": "sandbox", "config": {}}
            )
        )
    conversation = _created(
        client.post(
            "conversations/send",
            json={"recipient": "+15550102999", "channel": "sms", "message": {"text": "Hi"}},
        )
    )
    endpoint, spare = (
        _created(client.post("webhooks", json={"url": receiver_url, "events": ["*"]}))
        for _ in range(2)
    )
    delivery = _created(client.post(f"webhooks/{endpoint['id']}/test"))
    return {
        "ENGIUM_FUZZ_ENDPOINT_ID": endpoint["id"],
        "ENGIUM_FUZZ_SPARE_ENDPOINT_ID": spare["id"],
        "ENGIUM_FUZZ_DELIVERY_ID": delivery["id"],
        "ENGIUM_FUZZ_CONVERSATION_ID": conversation["id"],
    }


def _failures(junit: Path) -> list[str]:
    if not junit.exists():
        return ["no JUnit report was written"]
    found = []
    report = ElementTree.parse(junit)  # noqa: S314 (written by the run above, not untrusted)
    for case in report.getroot().iter("testcase"):
        for problem in [*case.iter("failure"), *case.iter("error")]:
            # `message` is the failure's code (ST201, …); the text has the request to replay.
            text = f"{problem.get('message') or ''}\n{problem.text or ''}".strip()
            found.append(f"{case.get('name')}: {text[:2000]}")
    return found


def test_the_fuzzer_finds_nothing(stack: Stack, tmp_path: Path) -> None:
    tenant = Tenant(stack, stack.create_tenant("e2e fuzz"))
    junit = tmp_path / "junit.xml"
    with ScriptedServer() as receiver:
        env = {
            **os.environ,
            **_seed(tenant, receiver.url),
            "ENGIUM_FUZZ_URL": stack.base_url,
            "ENGIUM_FUZZ_TENANT_ID": tenant.id,
            "ENGIUM_FUZZ_API_KEY": tenant.client.headers["Authorization"].removeprefix("Bearer "),
            "PYTHONPATH": str(BASE_DIR),
        }
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(BASE_DIR / "schemathesis.toml"),
                "run",
                f"{stack.base_url}/api/v1/schema/?format=json",
                "--report",
                "junit",
                "--report-junit-path",
                str(junit),
                "--no-color",
            ],
            env=env,
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
    tenant.client.close()
    output = run.stdout + run.stderr
    failures = _failures(junit)
    assert run.returncode == 0 and not failures, (
        f"schemathesis exit {run.returncode}; {len(failures)} failure(s):\n"
        + "\n\n".join(failures)
        + f"\n\n--- output (end)\n{output[-6000:]}\n\n--- server logs\n{stack.logs()}"
    )
    # Every phase ran and passed: none was skipped for want of data or links.
    for phase in PHASES:
        assert f"✅ {phase}" in output, output[-3000:]
