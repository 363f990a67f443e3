"""Benchmark of delivery to a provider, run by hand: ``python -m bench.providers``.

In one run, against one local fake Twilio that answers every message after 50 ms:

* **through Engium**: sends through ``POST /api/v1/conversations/send`` (gunicorn) at a
  given client concurrency, delivered by a Celery worker (its pool and concurrency are
  options) through the `twilio` adapter; messages delivered per second, and p50/p99 from
  the send's 201 to the fake provider's receipt of the message;
* **plain client loop**: the same number of threads posting the same form to the fake
  directly with httpx: the ceiling set by the provider's 50 ms.

Both measure at the fake provider, so they count the same thing: messages it received.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

from bench.common import bench_environment, manage, percentile

BASE_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2


class FakeTwilio:
    """Answers Messages.json after ``delay`` seconds; notes when each message arrived."""

    def __init__(self, delay: float) -> None:
        self.received: dict[str, float] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                fake.received[form.get("Body", [""])[0]] = time.time()
                time.sleep(delay)
                body = json.dumps(
                    {"sid": "SM" + secrets.token_hex(16), "status": "queued"}
                ).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.daemon_threads = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"


def plain_loop(fake: FakeTwilio, *, count: int, concurrency: int) -> float:
    """Messages per second a plain threaded httpx loop gets through the fake."""
    url = f"{fake.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    local = threading.local()

    def post(index: int) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(auth=(ACCOUNT_SID, "token"))
        local.client.post(url, data={"To": "+15550102999", "Body": f"plain-{index}"})

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(post, range(count)))
    return count / (time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16, help="client and worker")
    parser.add_argument("--pool", default="threads", help="the worker's pool: threads, prefork")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--port", type=int, default=8766)
    options = parser.parse_args()

    from devtools.embedded import ensure_services

    services = ensure_services(local_first=True)
    env = bench_environment(
        services.environ(), ENGIUM_PUBLIC_URL=f"http://127.0.0.1:{options.port}"
    )
    fake = FakeTwilio(options.delay_ms / 1000)
    manage(env, "migrate_schemas", "--shared", "-v", "0")
    tenant = json.loads(
        manage(
            env, "create_tenant", "--name", "bench providers", "--plan", "pro",
            "--rate-limit", "10000000", "--json",
        )
    )  # fmt: skip
    connect = (
        "from django_tenants.utils import schema_context\n"
        "from tenants.models import Tenant\nfrom integrations.services import connect_integration\n"
        f"t = Tenant.objects.get(public_id='{tenant['tenant_id']}')\n"
        "with schema_context(t.schema_name):\n"
        "    connect_integration(channel='sms', provider='twilio', config={"
        f"'account_sid': '{ACCOUNT_SID}', 'auth_token': 'bench-token', "
        f"'from_number': '+15557122661', 'base_url': '{fake.url}'}})\n"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", connect], env=env, cwd=BASE_DIR, check=True
    )
    processes = [
        subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"), "engium.wsgi", "--bind", f"127.0.0.1:{options.port}",
                "--workers", str(options.web_workers), "--log-level", "error",
            ],
            env=env, cwd=BASE_DIR,
        ),
        subprocess.Popen(
            [
                str(VENV_BIN / "celery"), "-A", "engium", "worker", "-Q", "delivery",
                "--pool", options.pool, "--concurrency", str(options.concurrency),
                "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
            ],
            env=env, cwd=BASE_DIR,
        ),
    ]  # fmt: skip
    sent_at: dict[str, float] = {}
    try:
        time.sleep(6)
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{options.port}/api/v1/",
            headers={
                "Authorization": f"Bearer {tenant['api_key']}",
                "X-Tenant-ID": tenant["tenant_id"],
            },
            timeout=30,
        )

        def send(index: int) -> None:
            text = f"engium-{index}"
            answer = client.post(
                "conversations/send",
                json={
                    "recipient": f"+1555{1000000 + index:07d}",
                    "channel": "sms",
                    "message": {"text": text},
                },
            )
            assert answer.status_code == 201, answer.text
            sent_at[text] = time.time()

        send(-1)  # warm up web and worker
        deadline = time.monotonic() + 30
        while "engium--1" not in fake.received and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.time()
        with ThreadPoolExecutor(options.concurrency) as pool:
            list(pool.map(send, range(options.messages)))
        deadline = time.monotonic() + 120
        wanted = {f"engium-{i}" for i in range(options.messages)}
        while not wanted <= set(fake.received) and time.monotonic() < deadline:
            time.sleep(0.05)
        accepted = options.messages / (max(sent_at.values()) - started)
        arrived = [fake.received[text] for text in wanted if text in fake.received]
        through_engium = len(arrived) / (max(arrived) - started)
        latencies = [
            (fake.received[text] - sent_at[text]) * 1000 for text in wanted if text in fake.received
        ]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(20)
    plain = plain_loop(fake, count=options.messages, concurrency=options.concurrency)
    drop = (
        "from tenants.models import Tenant as T; T.objects.get(public_id={!r}).delete(force_drop=1)"
    )
    manage(env, "shell", "-c", drop.format(tenant["tenant_id"]))

    print(
        f"fake provider answering after {options.delay_ms:g} ms; {options.messages} messages; "
        f"client concurrency {options.concurrency}; worker pool {options.pool} x "
        f"{options.concurrency}; gunicorn {options.web_workers} sync workers"
    )
    print(f"delivered            : {len(arrived)} / {options.messages}")
    print(f"sends accepted (201) : {accepted:,.1f} per second")
    print(f"through Engium       : {through_engium:,.1f} messages/s")
    print(f"plain client loop    : {plain:,.1f} messages/s")
    print(f"ratio                : {through_engium / plain:.2f}")
    print(
        f"201 → provider receipt: p50 {statistics.median(latencies):,.0f} ms, "
        f"p99 {percentile(latencies, 0.99):,.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
