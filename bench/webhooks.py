"""Benchmark of webhook delivery, run by hand (not in CI): ``python -m bench.webhooks``.

Ten local receivers answer every request after 50 ms; a Celery worker (queue ``webhooks``)
and beat run as in production. In one run it measures:

1. peak throughput: deliveries per second of the product's path (events fanned out to ten
   endpoints, tasks through the broker to a real Celery worker on queue ``webhooks``, each
   delivery claimed, signed, POSTed and logged), against a plain asyncio + httpx fan-out of
   the same bodies to the same receivers with the same number of requests in flight, and
   their ratio;
2. latency from a status change (the event's commit) to its receipt by each receiver, p50
   and p99, with status changes arriving at half the measured peak.

Uses ``DATABASE_URL`` (default: database ``engium_webhooks_bench`` on 127.0.0.1, created if
missing) and ``REDIS_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import bench_environment, manage, percentile

BASE_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
RECEIVERS = 10
RECEIVER_DELAY = 0.05
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/engium_webhooks_bench"


# ------------------------------------------------------------------ receivers


async def _serve(port: int, log: list[tuple[str, float, str]]) -> asyncio.AbstractServer:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                webhook_id = ""
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                    elif name.lower() == b"webhook-id":
                        webhook_id = value.strip().decode()
                body = await reader.readexactly(length)
                received = time.time()
                log.append((webhook_id, received, json.loads(body)["timestamp"]))
                await asyncio.sleep(RECEIVER_DELAY)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception as exc:
            print(f"receiver error: {exc!r}", file=sys.stderr)
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)


def _receivers(ports: list[int], commands: Any, results: Any) -> None:
    """Serve on ``ports``; on "drain", send back and forget what arrived; on "stop", exit."""

    async def main() -> None:
        log: list[tuple[str, float, str]] = []
        servers = [await _serve(port, log) for port in ports]
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, commands.get)
            if command == "stop":
                break
            results.put(list(log))
            log.clear()
        for server in servers:
            server.close()

    asyncio.run(main())


# ------------------------------------------------------------------ the plain fan-out


async def _plain_fan_out(jobs: list[tuple[str, bytes]], per_endpoint: int) -> tuple[float, int]:
    """The same POSTs with nothing around them: a pool and an in-flight cap per receiver
    (as the product has), no signing, no database. Returns (seconds, requests retried)."""
    import httpx

    clients: dict[str, httpx.AsyncClient] = {}
    gates: dict[str, asyncio.Semaphore] = {}
    for url, _ in jobs:
        if url not in clients:
            limits = httpx.Limits(max_connections=per_endpoint)
            clients[url] = httpx.AsyncClient(limits=limits)
            gates[url] = asyncio.Semaphore(per_endpoint)
    retried = 0

    async def one(url: str, body: bytes) -> None:
        nonlocal retried
        async with gates[url]:
            for _ in range(3):
                try:
                    answer = await clients[url].post(url, content=body)
                    assert answer.status_code == 200
                    return
                except httpx.TransportError:
                    retried += 1

    started = time.monotonic()
    await asyncio.gather(*(one(url, body) for url, body in jobs))
    seconds = time.monotonic() - started
    for client in clients.values():
        await client.aclose()
    return seconds, retried


# ------------------------------------------------------------------ the product's path


def _database(env: dict[str, str]) -> None:
    import psycopg

    url = env["DATABASE_URL"]
    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000, help="peak phase: events × 10")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--seconds", type=float, default=10.0, help="latency phase length")
    parser.add_argument(
        "--latency-rate",
        type=float,
        default=0.0,
        help="deliveries/s of the latency phase (default: half the measured peak)",
    )
    parser.add_argument("--base-port", type=int, default=18900)
    options = parser.parse_args()

    env = bench_environment(
        {
            "DATABASE_URL": os.environ.get("DATABASE_URL", DEFAULT_DATABASE),
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"),
        },
        ENGIUM_WEBHOOKS_ALLOW_PRIVATE="1",
    )
    env["CELERY_BROKER_URL"] = env["REDIS_URL"]
    os.environ.update(env)
    _database(env)
    manage(env, "migrate_schemas", "--shared", "-v", "0")
    tenant = json.loads(manage(env, "create_tenant", "--name", "webhooks bench", "--json"))

    import django

    django.setup()
    from django.conf import settings
    from django.db import transaction
    from django_tenants.utils import schema_context

    from engium import outbox
    from tenants.models import Tenant
    from webhooks.models import Delivery, EventType
    from webhooks.services import SEND_DELIVERIES, create_endpoint, raise_event
    from webhooks.services.delivery import event_body

    schema = Tenant.objects.get(public_id=tenant["tenant_id"]).schema_name
    ports = [options.base_port + n for n in range(RECEIVERS)]
    commands: Any = multiprocessing.Queue()
    results: Any = multiprocessing.Queue()
    receivers = multiprocessing.Process(target=_receivers, args=(ports, commands, results))
    receivers.start()
    worker = subprocess.Popen(
        [
            str(VENV_BIN / "celery"),
            "-A",
            "engium",
            "worker",
            "-Q",
            "webhooks",
            "--concurrency",
            str(options.concurrency),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        env=env,
        cwd=BASE_DIR,
    )
    # Beat, as in production: the sweep publishes retries and deliveries deferred by the
    # per-endpoint cap.
    workdir = tempfile.mkdtemp(prefix="engium-bench-webhooks-")
    beat = subprocess.Popen(
        [
            str(VENV_BIN / "celery"),
            "-A",
            "engium",
            "beat",
            "--loglevel",
            "WARNING",
            "--schedule",
            str(Path(workdir) / "beat-schedule"),
        ],
        env=env,
        cwd=BASE_DIR,
    )
    try:
        time.sleep(3)  # worker start-up
        with schema_context(schema):
            for port in ports:
                create_endpoint(url=f"http://127.0.0.1:{port}/hook", events=["*"])

        def message(n: int) -> dict[str, Any]:
            return {"id": f"msg_bench{n:021d}", "status": "delivered", "text": "x" * 200}

        # ---- 1. peak: the backlog of N events × 10 endpoints through broker and worker
        submit = outbox.submit
        outbox.submit = lambda *args, **kwargs: None  # type: ignore[assignment]
        try:  # the backlog is written first, then published at once below
            with schema_context(schema), transaction.atomic():
                for n in range(options.events):
                    raise_event(EventType.MESSAGE_DELIVERED, message(n))
        finally:
            outbox.submit = submit  # type: ignore[assignment]
        with schema_context(schema):
            ids = list(Delivery.objects.filter(status="pending").values_list("pk", flat=True))
            jobs = [(f"http://127.0.0.1:{ports[n % RECEIVERS]}/hook", b"") for n in range(len(ids))]
            bodies = {
                d.pk: event_body(d.event)
                for d in Delivery.objects.filter(pk__in=ids).select_related("event")
            }
        outbox.flush()
        started = time.monotonic()
        for start in range(0, len(ids), outbox.MAX_BATCH):
            chunk = [str(pk) for pk in ids[start : start + outbox.MAX_BATCH]]
            outbox.publish(SEND_DELIVERIES, schema=schema, args=[chunk])
        with schema_context(schema):
            while Delivery.objects.filter(pk__in=ids, status="pending").exists():
                time.sleep(0.05)
        product_seconds = time.monotonic() - started
        commands.put("drain")
        results.get()
        product_rate = len(ids) / product_seconds

        per_endpoint = settings.ENGIUM_WEBHOOK_ENDPOINT_CONCURRENCY
        in_flight = RECEIVERS * per_endpoint
        jobs = [(url, bodies[pk]) for (url, _), pk in zip(jobs, ids, strict=True)]
        plain_seconds, retried = asyncio.run(_plain_fan_out(jobs, per_endpoint))
        commands.put("drain")
        results.get()
        plain_rate = len(jobs) / plain_seconds

        print(f"deliveries: {len(ids)} ({options.events} events × {RECEIVERS} endpoints)")
        print(f"product:    {product_rate:8.0f} deliveries/s ({options.concurrency} processes)")
        print(
            f"plain:      {plain_rate:8.0f} deliveries/s (asyncio + httpx, {in_flight} in flight)"
        )
        print(f"ratio:      {product_rate / plain_rate:8.2f} (plain retried {retried} requests)")

        # ---- 2. latency at half the peak (or --latency-rate): status changes one by one
        events_per_second = (options.latency_rate or product_rate / 2) / RECEIVERS
        interval = 1 / events_per_second
        with schema_context(schema):
            deadline = time.monotonic() + options.seconds
            next_at = time.monotonic()
            n = options.events
            while time.monotonic() < deadline:
                with transaction.atomic():
                    raise_event(EventType.MESSAGE_DELIVERED, message(n))
                n += 1
                next_at += interval
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            sent = n - options.events
            while Delivery.objects.filter(status="pending").exists():
                time.sleep(0.05)
        commands.put("drain")
        log = results.get()
        latencies = [
            (received - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()) * 1000
            for _, received, stamp in log
        ]
        print(
            f"latency at {events_per_second * RECEIVERS:.0f} deliveries/s "
            f"({sent} events, {len(latencies)} receipts): "
            f"p50 {statistics.median(latencies):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms "
            f"(aim: p99 ≤ {2 * RECEIVER_DELAY * 1000 + 100:.0f} ms)"
        )
    finally:
        commands.put("stop")
        for process in (worker, beat):
            process.terminate()
            process.wait(20)
        shutil.rmtree(workdir, ignore_errors=True)
        receivers.join(10)
        manage(
            env,
            "shell",
            "-c",
            "from tenants.models import Tenant\n"
            f"Tenant.objects.get(public_id='{tenant['tenant_id']}').delete(force_drop=True)",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
