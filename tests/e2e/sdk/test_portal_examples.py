"""Every example of the developer portal (portal/pages/*.md), run against the live stack.

Python examples run with the SDK installed from its wheel (`sdk_runner`), curl ones with
`curl` in bash; both with the placeholders replaced by a live tenant's values and the
`ENGIUM_*` variables set, as a reader would after reading Authentication. A curl example
passes when every request it makes answers 2xx (`--fail-with-body`).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from portal.pages import EXAMPLE_BASE_URL, Example, all_examples
from tests.e2e.conftest import Stack
from tests.e2e.sdk.conftest import SdkRunner, sandbox_tenant
from tests.http_server import ScriptedServer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


@dataclass
class Reader:
    """A developer's tenant, with the IDs the examples refer to."""

    values: dict[str, str]
    env: dict[str, str]

    def fill(self, code: str) -> str:
        for placeholder, value in self.values.items():
            code = code.replace(placeholder, value)
        return code


@pytest.fixture(scope="module")
def reader(stack: Stack) -> Iterator[Reader]:
    tenant = sandbox_tenant(stack, "e2e portal examples")
    client = tenant.client
    integration_id = client.get("integrations?channel=sms").json()["data"][0]["id"]
    sent = client.post(
        "conversations/send",
        json={"recipient": "+15550102999", "channel": "sms", "message": {"text": "Hi"}},
    )
    assert sent.status_code == 201, sent.text
    with ScriptedServer() as receiver:
        endpoint = client.post("webhooks", json={"url": f"{receiver.url}/hook", "events": ["*"]})
        assert endpoint.status_code == 201, endpoint.text
        api_key = client.headers["Authorization"].removeprefix("Bearer ")
        yield Reader(
            values={
                EXAMPLE_BASE_URL: stack.base_url,
                "YOUR_API_KEY": api_key,
                "YOUR_TENANT_ID": tenant.id,
                "YOUR_MESSAGE_ID": sent.json()["message"]["id"],
                "YOUR_ENDPOINT_ID": endpoint.json()["id"],
                "YOUR_INTEGRATION_ID": integration_id,
            },
            env={
                "ENGIUM_API_KEY": api_key,
                "ENGIUM_TENANT_ID": tenant.id,
                "ENGIUM_BASE_URL": stack.base_url,
            },
        )
    client.close()


def _run_shell(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Every curl of the example must succeed; the reader's copy has no such wrapper.
    prelude = 'curl() { command curl --fail-with-body --silent --show-error "$@"; }\n'
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environment.update(env)
    with tempfile.TemporaryDirectory(prefix="engium-example-") as workdir:
        return subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", prelude + code],
            cwd=workdir,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.mark.parametrize("example", all_examples(), ids=lambda e: e.name)
def test_the_portal_example_runs(
    example: Example, reader: Reader, sdk_runner: SdkRunner, stack: Stack
) -> None:
    code = reader.fill(example.code)
    assert EXAMPLE_BASE_URL not in code
    if example.language == "python":
        result = sdk_runner.run(code, env=reader.env)
    else:
        result = _run_shell(code, reader.env)
    assert result.returncode == 0, f"{example.name}\n{code}\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip(), "an example shows its reader something"


def test_the_portal_is_served_by_the_running_product_with_its_real_base_url(
    stack: Stack,
) -> None:
    page = httpx.get(f"{stack.base_url}/docs/first-message/", timeout=20)
    assert page.status_code == 200
    assert f"{stack.base_url}/api/v1/conversations/send" in page.text
    css = httpx.get(f"{stack.base_url}/static/portal/portal.css", timeout=20)
    assert css.status_code == 200 and ".portal-sidebar" in css.text
