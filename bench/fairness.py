"""Benchmark of fair delivery across tenants, run by hand (not in CI): ``python -m bench.fairness``.

Web (gunicorn, 2 workers), a Celery worker (2 processes, every queue) and beat run as
``make run`` starts them, with the sandbox provider. In one run it measures:

1. a lone tenant: tenant B's latency from its send's ``queued`` to ``sent``, with nothing else
   going on (median of a few sends);
2. a backlog: tenant A sends ``--backlog`` messages as fast as the web takes them, then B
   sends one; B's latency to ``sent``, how many of A's messages were still unsent when B's was
   accepted, how many of those went out before B's, and how long A's whole burst took from
   its first ``queued`` to its last ``sent`` (a lone tenant's throughput).

Times are the status history's (one clock: the processes share the host). Uses
``DATABASE_URL`` (default: database ``engium_fairness_bench`` on 127.0.0.1, created if
missing) and ``REDIS_URL``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.common import bench_environment, manage
from devtools.launcher import process_commands

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/engium_fairness_bench"


def _database(env: dict[str, str]) -> None:
    import psycopg

    url = env["DATABASE_URL"]
    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


class Client:
    def __init__(self, base_url: str, created: dict[str, str]) -> None:
        self.id = created["tenant_id"]
        self.http = httpx.Client(
            base_url=f"{base_url}/api/v1/",
            headers={"Authorization": f"Bearer {created['api_key']}", "X-Tenant-ID": self.id},
            timeout=30,
        )

    def send(self, n: int) -> str:
        answer = self.http.post(
            "conversations/send",
            json={
                # ends in 3: the sandbox fails numbers ending in 0001
                "recipient": f"+1555{(n * 10 + 3) % 10_000_000:07d}",
                "channel": "whatsapp",
                "message": {"text": f"message {n}"},
            },
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["message"]["id"])


def _steps(schema: str, status: str) -> dict[str, float]:
    """Message ID → the time (epoch seconds) of its ``status`` step, in ``schema``."""
    from django_tenants.utils import schema_context

    from conversations.models import MessageStatusChange

    with schema_context(schema):
        return {
            message_id: at.timestamp()
            for message_id, at in MessageStatusChange.objects.filter(status=status).values_list(
                "message_id", "occurred_at"
            )
        }


def _wait_sent(schema: str, ids: list[str], seconds: float = 600) -> dict[str, float]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sent = _steps(schema, "sent")
        if all(message_id in sent for message_id in ids):
            return sent
        time.sleep(0.2)
    raise AssertionError(f"not all {len(ids)} messages of {schema} were sent")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=1000, help="tenant A's burst")
    parser.add_argument("--threads", type=int, default=8, help="A's concurrent senders")
    parser.add_argument("--port", type=int, default=18950)
    options = parser.parse_args()

    env = bench_environment(
        {
            "DATABASE_URL": os.environ.get("DATABASE_URL", DEFAULT_DATABASE),
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"),
        },
        LOG_LEVEL="WARNING",
    )
    env["CELERY_BROKER_URL"] = env["REDIS_URL"]
    os.environ.update(env)
    _database(env)
    manage(env, "migrate_schemas", "--shared", "-v", "0")
    created = {
        name: json.loads(
            manage(
                env, "create_tenant", "--name", f"fairness bench {name}", "--plan", "pro", "--json"
            )
        )
        for name in ("A", "B")
    }

    import django

    django.setup()
    from tenants.models import Tenant

    workdir = Path(tempfile.mkdtemp(prefix="engium-bench-fairness-"))
    commands = process_commands(
        port=options.port, web_workers=2, beat_schedule=workdir / "beat-schedule"
    )
    commands["worker"] += ["--without-gossip", "--without-mingle"]
    processes = {
        name: subprocess.Popen(
            args,
            env=env,
            cwd=BASE_DIR,
            stdout=open(workdir / f"{name}.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        for name, args in commands.items()
    }
    base_url = f"http://127.0.0.1:{options.port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "web did not start"
            time.sleep(0.2)
        time.sleep(3)  # worker start-up
        a, b = Client(base_url, created["A"]), Client(base_url, created["B"])
        for client in (a, b):
            answer = client.http.post(
                "integrations", json={"channel": "whatsapp", "provider": "sandbox", "config": {}}
            )
            assert answer.status_code == 201, answer.text
        schema_a = Tenant.objects.get(public_id=a.id).schema_name
        schema_b = Tenant.objects.get(public_id=b.id).schema_name

        # ---- 1. B alone
        alone = []
        for n in range(5):
            message_id = b.send(n)
            sent = _wait_sent(schema_b, [message_id])
            alone.append(sent[message_id] - _steps(schema_b, "queued")[message_id])
            time.sleep(0.3)
        print(f"B alone:            latency to sent, median {statistics.median(alone):.3f} s")

        # ---- 2. B behind A's burst
        with ThreadPoolExecutor(options.threads) as pool:
            a_ids = list(pool.map(a.send, range(options.backlog)))
        b_id = b.send(99)
        b_sent = _wait_sent(schema_b, [b_id])[b_id]
        b_queued = _steps(schema_b, "queued")[b_id]
        a_sent = _wait_sent(schema_a, a_ids)
        a_queued = _steps(schema_a, "queued")
        unsent_at_b = [m for m in a_ids if a_sent[m] > b_queued]
        ahead_of_b = [m for m in unsent_at_b if a_sent[m] < b_sent]
        burst = max(a_sent[m] for m in a_ids) - min(a_queued[m] for m in a_ids)
        print(
            f"B behind A's burst:  latency to sent {b_sent - b_queued:.3f} s; A's unsent when B "
            f"was accepted: {len(unsent_at_b)}, of which sent before B: {len(ahead_of_b)}"
        )
        print(
            f"A's burst:          {options.backlog} messages, first queued to last sent "
            f"{burst:.2f} s ({options.backlog / burst:.0f} messages/s)"
        )
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(workdir, ignore_errors=True)
        for created_tenant in created.values():
            manage(
                env,
                "shell",
                "-c",
                "from tenants.models import Tenant\n"
                f"Tenant.objects.get(public_id='{created_tenant['tenant_id']}')"
                ".delete(force_drop=True)",
            )
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
