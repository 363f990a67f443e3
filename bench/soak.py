"""Soak test, run by hand: ``python -m bench.soak [--minutes 10] [--tenants 50]``.

In a database of its own (dropped afterwards), it starts the product's processes as
docs/deploy.md lays out a production: gunicorn, workers split by queue (`delivery`,
`webhooks`, `agents,default`: `devtools.launcher.SPLIT_WORKERS`, each with the concurrency
of its option, printed) and beat; it creates ``--tenants`` tenants, each with a sandbox
WhatsApp integration and a webhook endpoint on a local receiver (subscribed to every
event). Then it measures two peaks in one closed-loop burst of ``--peak-seconds``
(``--clients`` threads sending as fast as the web answers, a random tenant per send):

* the **send's peak**: sends accepted (201) per second during the burst;
* the **pipeline's peak**: those sends divided by the time from the burst's start until
  every one of them is ``read`` and every webhook event they raised has reached the
  receiver (the last one's arrival). That is what the whole system sustains: the web
  accepts, the delivery workers send, the sandbox's statuses are applied, and the webhooks
  workers deliver each event. It includes the sandbox's timetable (read 2 s after the
  send, applied by the 5-s outbox sweep), so it errs low, by a few seconds over the burst.

It soaks at half of the pipeline's peak (``--rate`` overrides) for ``--minutes``, a random
tenant per send. Each minute it prints:

* the sends that minute, and their latency (request to 201), p50 and p99;
* the webhooks received that minute, and status to webhook: from an event's time (its
  ``timestamp``) to the receiver having it, p50 and p99;
* the backlog: webhook deliveries pending and messages not yet ``read``, over all tenants;
* the resident memory of the web processes and of each worker (each with its children),
  in MiB.

A healthy run is flat: latencies, backlog and memory stay where the first minutes put them.
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
from devtools.launcher import SPLIT_WORKERS, process_commands

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
    out.append([tenant.public_id, issued.raw_key, tenant.schema_name])
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


#: Worker concurrency per group of `SPLIT_WORKERS`, chosen for this 2-core machine (and
#: printed): the sandbox answers at once and the receiver too, so both are CPU work and a
#: process per core is enough; a webhooks task only claims and starts its POSTs (its
#: process's event loop and recorder thread do the rest); agents and default run only
#: beat's sweeps here.
CONCURRENCY = {"worker-delivery": 2, "worker-webhooks": 2, "worker-agents": 1}


def backlog(database_url: str, schemas: list[str]) -> tuple[int, int]:
    """Webhook deliveries pending, and messages not yet ``read``, over every tenant."""
    pending = " UNION ALL ".join(
        f"SELECT (SELECT count(*) FROM {schema}.webhooks_delivery WHERE status = 'pending'),"  # noqa: S608 (our own tenants' schemas)
        f" (SELECT count(*) FROM {schema}.conversations_message WHERE status <> 'read')"
        for schema in schemas
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(f"SELECT sum(d), sum(m) FROM ({pending}) AS t(d, m)").fetchone()  # noqa: S608
    assert row is not None
    return int(row[0] or 0), int(row[1] or 0)


def recipient() -> str:
    # never ending in 0001 (the sandbox fails it) or 0002 (never read): every send is read
    return f"+1555{random.randint(100_000, 999_999)}{random.randint(3, 9)}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10, help="length of the soak")
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument(
        "--peak-seconds", type=int, default=20, help="length of the burst that finds the peaks"
    )
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    parser.add_argument(
        "--rate", type=float, default=0, help="sends/s of the soak (default: half the pipeline's)"
    )
    parser.add_argument("--drain-seconds", type=float, default=600, help="wait at most this")
    parser.add_argument("--web-workers", type=int, default=2)
    for name, default in CONCURRENCY.items():
        parser.add_argument(
            f"--{name.removeprefix('worker-')}-concurrency",
            type=int,
            default=default,
            help=f"processes of the {SPLIT_WORKERS[name]} worker",
        )
    parser.add_argument("--port", type=int, default=8768)
    options = parser.parse_args()
    concurrency = {
        name: getattr(options, f"{name.removeprefix('worker-')}_concurrency")
        for name in CONCURRENCY
    }

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
        schemas = [schema for _, _, schema in credentials]
        commands = process_commands(
            port=options.port,
            web_workers=options.web_workers,
            beat_schedule=workdir / "beat-schedule",
            split_workers=True,
        )
        for name, processes_of_it in concurrency.items():
            args = commands[name]
            args[args.index("--concurrency") + 1] = str(processes_of_it)
        print(
            f"processes: web {options.web_workers} sync workers; "
            + "; ".join(
                f"{name} (-Q {SPLIT_WORKERS[name]}) {concurrency[name]}" for name in CONCURRENCY
            )
            + "; beat",
            flush=True,
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
            for tenant, key, _ in credentials
        ]

        def send() -> float:
            client = random.choice(clients)
            started = time.monotonic()
            answer = client.post("conversations/send", json={**BODY, "recipient": recipient()})
            if answer.status_code != 201:
                raise SystemExit(f"send answered {answer.status_code}: {answer.text}")
            return time.monotonic() - started

        # the peaks: a burst as fast as --clients threads can send, then until it is through
        burst_started = time.time()
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
            for future in [pool.submit(flat_out) for _ in range(options.clients)]:
                future.result()
        send_peak = count / options.peak_seconds
        give_up = time.monotonic() + options.drain_seconds
        shown = 0.0
        while (left := backlog(services["DATABASE_URL"], schemas)) != (0, 0):
            if time.monotonic() > give_up:
                raise SystemExit(
                    f"the burst did not drain in {options.drain_seconds:.0f} s: {left}"
                )
            if time.time() - shown >= 10:  # which stage the burst waits on
                shown = time.time()
                print(
                    f"  {shown - burst_started:5.0f} s: {left[0]} deliveries pending, "
                    f"{left[1]} messages not yet read, {len(receiver.lags)} webhooks received",
                    flush=True,
                )
            time.sleep(1)
        through = max(at for at, _ in receiver.lags) - burst_started
        pipeline_peak = count / through
        rate = options.rate or pipeline_peak / 2
        print(
            f"send's peak:     {send_peak:.0f} sends/s over {options.tenants} tenants "
            f"({count} sends in {options.peak_seconds} s, {options.clients} clients)"
        )
        print(
            f"pipeline's peak: {pipeline_peak:.0f} sends/s (the same {count} sends read and "
            f"their {len(receiver.lags)} webhooks received {through:.1f} s after the burst began)"
        )
        print(
            f"soaking at {rate:.1f} sends/s: "
            + ("--rate" if options.rate else "half of the pipeline's peak")
            + f", {rate / send_peak:.2f} of the send's",
            flush=True,
        )
        receiver.lags.clear()

        print(
            "minute | sends | send p50 / p99 ms | webhooks | status→webhook p50 / p99 ms | "
            "pending deliveries / unread | web MiB | "
            + " | ".join(f"{name.removeprefix('worker-')} MiB" for name in CONCURRENCY),
            flush=True,
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
                    _report(minute, latencies, receiver, processes, services, schemas)
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
    services: dict[str, str],
    schemas: list[str],
) -> None:
    since = time.time() - 60
    sends = [seconds * 1000 for at, seconds in list(latencies) if at >= since]
    lags = [lag * 1000 for at, lag in list(receiver.lags) if at >= since]
    pending, unread = backlog(services["DATABASE_URL"], schemas)
    memory = [rss_mib(processes["web"])] + [rss_mib(processes[name]) for name in CONCURRENCY]

    def p(values: list[float], share: float) -> str:
        return f"{percentile(values, share):,.0f}" if values else "-"

    print(
        f"{minute:>6} | {len(sends):>5} | {p(sends, 0.5):>6} / {p(sends, 0.99):>6} | "
        f"{len(lags):>8} | {p(lags, 0.5):>10} / {p(lags, 0.99):>8} | "
        f"{pending:>18} / {unread:>6} | " + " | ".join(f"{mib:>7.0f}" for mib in memory),
        flush=True,
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(BASE_DIR))
    sys.exit(main())
