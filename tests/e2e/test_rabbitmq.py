"""Past one machine, with engines that exist: RabbitMQ as the broker, workers split by queue.

The stack of these tests publishes to RabbitMQ (`CELERY_BROKER_URL=amqp://…`, a virtual host
of its own) and runs one worker per group of queues (`devtools.launcher.SPLIT_WORKERS`), as
docs/deploy.md lays a production deployment out. A message goes out and is read, its
webhooks arrive, and each worker took only its own queues' tasks.

RabbitMQ must listen on 127.0.0.1:5672 (guest/guest): CI starts it
(``ENGIUM_REQUIRE_RABBITMQ=1``); elsewhere these tests are skipped without it.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from devtools.launcher import SPLIT_WORKERS, process_commands
from tests.e2e.conftest import Stack, Tenant, wait_until
from tests.http_server import ScriptedServer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


def _rabbitmq_listens() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


class RabbitStack(Stack):
    """The end-to-end stack with RabbitMQ for a broker and workers split by queue."""

    def __init__(self, workdir: Path, vhost: str) -> None:
        super().__init__(workdir)
        self.env["CELERY_BROKER_URL"] = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"

    def start(self) -> None:
        commands = process_commands(
            port=self.web_port,
            web_workers=2,
            beat_schedule=self.workdir / "beat-schedule",
            split_workers=True,
        )
        for name, args in commands.items():
            if name.startswith("worker"):
                args += ["--without-gossip", "--without-mingle", "--concurrency", "1"]
            self._spawn(name, args)
        try:
            wait_until(self._web_up, 90, "web server did not answer /healthz")
        except AssertionError:
            print(self.logs())
            raise


def _rabbitmqctl(*args: str) -> bool:
    if shutil.which("rabbitmqctl") is None:
        return False
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, timeout=60).returncode == 0


@pytest.fixture(scope="module")
def rabbit_stack(django_db_setup: None, django_db_blocker: Any) -> Iterator[RabbitStack]:
    if not _rabbitmq_listens():
        if os.environ.get("ENGIUM_REQUIRE_RABBITMQ") == "1":
            pytest.fail("RabbitMQ is required (ENGIUM_REQUIRE_RABBITMQ=1) but not listening")
        pytest.skip("RabbitMQ is not listening on 127.0.0.1:5672")
    vhost = f"engium_test_{secrets.token_hex(4)}"
    # A virtual host of its own keeps other runs' queues apart; without rabbitmqctl, "/".
    if _rabbitmqctl("add_vhost", vhost):
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    else:
        vhost = ""
    workdir = Path(tempfile.mkdtemp(prefix="engium-rabbit-"))
    stack = RabbitStack(workdir, vhost)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        from tenants.models import Tenant as TenantModel

        with django_db_blocker.unblock():
            for tenant in TenantModel.objects.filter(name__startswith="e2e rabbit"):
                tenant.delete(force_drop=True)
        if vhost:
            _rabbitmqctl("delete_vhost", vhost)
        shutil.rmtree(workdir, ignore_errors=True)


def test_the_first_message_through_rabbitmq_and_workers_split_by_queue(
    rabbit_stack: RabbitStack,
) -> None:
    tenant = Tenant(rabbit_stack, rabbit_stack.create_tenant("e2e rabbit"))
    answer = tenant.client.post(
        "integrations", json={"channel": "whatsapp", "provider": "sandbox", "config": {}}
    )
    assert answer.status_code == 201, answer.text
    with ScriptedServer() as receiver:
        endpoint = tenant.client.post(
            "webhooks", json={"url": f"{receiver.url}/hook", "events": ["*"]}
        )
        assert endpoint.status_code == 201, endpoint.text
        sent = tenant.client.post(
            "conversations/send",
            json={
                "recipient": "+15550102999",
                "channel": "whatsapp",
                "message": {"text": "Hello from Engium! How can we help you today?"},
            },
        )
        assert sent.status_code == 201, sent.text
        message_id = sent.json()["message"]["id"]

        def status() -> str:
            return str(tenant.client.get(f"messages/{message_id}").json()["status"])

        try:
            wait_until(lambda: status() == "read", 60, "the message read")
            wait_until(lambda: len(receiver.received) >= 4, 60, "four webhooks")
        except AssertionError:
            print(rabbit_stack.logs())
            raise
        verifier = Webhook(endpoint.json()["secret"])
        types = {verifier.verify(r.body, r.headers)["type"] for r in receiver.received}
        assert types >= {
            "conversation.created",
            "conversation.message.sent",
            "conversation.message.delivered",
            "conversation.message.read",
        }, types

    # each worker took only the tasks of its own queues
    taken = {
        name: set(
            re.findall(r"Task ([\w.]+)\[", (rabbit_stack.workdir / f"{name}.log").read_text())
        )
        for name in SPLIT_WORKERS
    }
    delivery, webhooks, others = (
        taken["worker-delivery"],
        taken["worker-webhooks"],
        taken["worker-agents"],
    )
    # (an idle tenant's first batch is delivered by the dispatch task itself)
    assert delivery & {"conversations.dispatch_messages", "conversations.deliver_messages"}, taken
    assert all(name.startswith("conversations.") for name in delivery), taken
    assert webhooks and all(name.startswith("webhooks.") for name in webhooks), taken
    assert not any(name.startswith(("webhooks.", "conversations.deliver")) for name in others)
