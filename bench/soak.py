"""Soak test, run by hand: ``python -m bench.soak [--minutes 10] [--tenants 50]``.

In a database of its own (dropped afterwards), it starts the product's processes (gunicorn,
a worker on every queue, beat), creates ``--tenants`` tenants, each with a sandbox WhatsApp
integration and a webhook endpoint on a local receiver (subscribed to every event), finds
the send's peak rate over all of them for ``--peak-seconds``, then sends at half of it for
``--minutes``, a random tenant for each send. Each minute it prints:

* the send's latency (request to 201), p50 and p99;
* status to webhook: from an event's time (its ``timestamp``) to the receiver having it,
  p50 and p99, over every event delivered that minute;
* the resident memory of the web processes and of the worker processes (each with its
  children), in MiB.

A healthy run is flat: latencies and memory stay where the first minutes put them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil
import psycopg

from bench.common import BASE_DIR, bench_environment, manage, percentile
from devtools.launcher import process_commands

BODY = {"channel": "whatsapp", "message": {"text": "Hello from Engium! How can we help you today?"}}

SETUP = """
import json, django
django.setup()
from django_tenants.utils import schema_context
from integrations.services import connect_integration
from tenants.services import create_tenant
from webhooks.services import create_endpoint
out = []
for index in range({count}):
    tenant, issued = create_tenant(name=f"soak {{index}}", plan="pro", rate_limit=10_000_000)
    with schema_context(tenant.schema_name):
        connect_integration(channel="whatsapp", provider="sandbox", config={{}})
        create_endpoint(url={hook!r}, events=["*"], description="soak")
    out.append([tenant.public_id, issued.raw_key])
print(json.dumps(out))
"""


class Receiver:
    """Answers 200 at once; notes when each event arrived, against its ``timestamp``."""

    def __init__(self) -> None:
        self.lags: list[tuple[float, float]] = []  # (arrived, seconds since the event)
        lags = self.lags

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    happened = datetime.fromisoformat(json.loads(body)["timestamp"]).timestamp()
                    lags.append((arrived, arrived - happened))
                except (ValueError, KeyError, TypeError):
                    pass
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"


def rss_mib(process: subprocess.Popen[bytes]) -> float:
    try:
        root = psutil.Process(process.pid)
        members = [root, *root.children(recursive=True)]
        return sum(member.memory_info().rss for member in members) / 2**20
    except psutil.NoSuchProcess:
        return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--peak-seconds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8768)
    options = parser.parse_args()

    from devtools.embedded import ensure_services

    services = ensure_services(local_first=True).environ()
    url = urlsplit(services["DATABASE_URL"])
    database = f"{url.path.lstrip('/') or 'engium'}_soak_bench"
    admin_url = urlunsplit(url._replace(path="/postgres"))
    services["DATABASE_URL"] = urlunsplit(url._replace(path=f"/{database}"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
        admin.execute(f'CREATE DATABASE "{database}"')

    workdir = Path(tempfile.mkdtemp(prefix="engium-soak-"))
    env = bench_environment(
        services,
        DJANGO_SETTINGS_MODULE="engium.settings",
        ENGIUM_PUBLIC_URL=f"http://127.0.0.1:{options.port}",
        ENGIUM_WEBHOOKS_ALLOW_PRIVATE="1",
        LOG_LEVEL="WARNING",
    )
    receiver = Receiver()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        manage(env, "migrate_schemas", "-v", "0")
        credentials = json.loads(
            subprocess.run(
                [sys.executable, "-c", SETUP.format(count=options.tenants, hook=receiver.url)],
                env=env,
                cwd=BASE_DIR,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        commands = process_commands(
            port=options.port,
            web_workers=options.web_workers,
            beat_schedule=workdir / "beat-schedule",
        )
        for name, args in commands.items():
            log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115 (lives with the process)
            processes[name] = subprocess.Popen(
                args, env=env, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT
            )
        time.sleep(5)
        clients = [
            httpx.Client(
                base_url=f"http://127.0.0.1:{options.port}/api/v1/",
                headers={"Authorization": f"Bearer {key}", "X-Tenant-ID": tenant},
                timeout=30,
            )
            for tenant, key in credentials
        ]

        def send() -> float:
            client = random.choice(clients)
            started = time.monotonic()
            answer = client.post(
                "conversations/send",
                json={**BODY, "recipient": f"+1555{random.randint(1_000_000, 9_999_999)}"},
            )
            if answer.status_code != 201:
                raise SystemExit(f"send answered {answer.status_code}: {answer.text}")
            return time.monotonic() - started

        # the peak: as fast as --clients threads can send
        deadline = time.monotonic() + options.peak_seconds
        count = 0
        lock = threading.Lock()

        def flat_out() -> None:
            nonlocal count
            while time.monotonic() < deadline:
                send()
                with lock:
                    count += 1

        with ThreadPoolExecutor(options.clients) as pool:
            for _ in range(options.clients):
                pool.submit(flat_out)
        peak = count / options.peak_seconds
        rate = peak / 2
        print(f"peak {peak:.0f} sends/s over {options.tenants} tenants; soaking at {rate:.0f}/s")
        time.sleep(20)  # let the peak's backlog drain before measuring
        receiver.lags.clear()

        print(
            "minute | sends | send p50 / p99 ms | status→webhook p50 / p99 ms | "
            "web MiB | worker MiB"
        )
        latencies: list[tuple[float, float]] = []
        started = time.monotonic()
        minute = 0
        with ThreadPoolExecutor(options.clients) as pool:
            next_at = time.monotonic()
            while time.monotonic() - started < options.minutes * 60:
                next_at += 1 / rate
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                pool.submit(lambda: latencies.append((time.time(), send())))
                if time.monotonic() - started >= (minute + 1) * 60:
                    minute += 1
                    _report(minute, latencies, receiver, processes)
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return 0


def _report(
    minute: int,
    latencies: list[tuple[float, float]],
    receiver: Receiver,
    processes: dict[str, subprocess.Popen[bytes]],
) -> None:
    since = time.time() - 60
    sends = [seconds * 1000 for at, seconds in list(latencies) if at >= since]
    lags = [lag * 1000 for at, lag in list(receiver.lags) if at >= since]
    web = rss_mib(processes["web"])
    worker = rss_mib(processes["worker"])

    def p(values: list[float], share: float) -> str:
        return f"{percentile(values, share):,.0f}" if values else "-"

    print(
        f"{minute:>6} | {len(sends):>5} | {p(sends, 0.5):>6} / {p(sends, 0.99):>6} | "
        f"{p(lags, 0.5):>10} / {p(lags, 0.99):>8} | {web:>7.0f} | {worker:>10.0f}",
        flush=True,
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(BASE_DIR))
    sys.exit(main())
