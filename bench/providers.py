"""Benchmark of delivery to a provider, run by hand: ``python -m bench.providers``.

A local fake Twilio, in a process of its own, answers every message after 50 ms and notes
when each arrived. In one run:

1. **peak through the worker**: ``--messages`` sends are accepted through
   ``POST /api/v1/conversations/send`` (gunicorn) while the Celery worker on queue
   ``delivery`` consumes nothing (``celery control cancel_consumer``); then it consumes again
   and delivers the backlog through the `twilio` adapter (its pool and concurrency are
   options): messages the fake received per second, first receipt to last;
2. **plain client loop**: the same number of threads posting the same form to the fake
   directly with httpx: the ceiling that the provider's 50 ms and this machine set;
3. **latency at half of peak**: sends paced at half of the system's peak (the lower of the
   rate at which the API accepted the backlog and the rate at which the worker delivered it;
   or ``--latency-rate``) for ``--seconds``; p50/p99 from each send's 201 to the fake's
   receipt. The aim is p99 within 100 ms of the provider's own latency.

Uses ``DATABASE_URL`` (default: database ``engium_providers_bench`` on 127.0.0.1, created if
missing) and ``REDIS_URL`` (default: index 5 of the local Redis, which is also the broker, so
that stale tasks of another run cannot join this one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

from bench.common import bench_environment, manage, percentile

BASE_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/engium_providers_bench"


# ------------------------------------------------------------------ the fake provider


def _fake_twilio(port: int, delay: float, commands: Any, results: Any) -> None:
    """Serve Twilio's Messages.json on ``port``: answer after ``delay`` seconds, noting each
    message's ``Body`` and arrival time. On "drain", send back and forget what arrived."""
    received: dict[str, float] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                form = parse_qs((await reader.readexactly(length)).decode())
                received[form.get("Body", [""])[0]] = time.time()
                await asyncio.sleep(delay)
                body = json.dumps({"sid": "SM" + secrets.token_hex(16), "status": "queued"})
                writer.write(
                    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body.encode())
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, commands.get)
            if command == "stop":
                break
            results.put(dict(received))
            received.clear()
        server.close()

    asyncio.run(main())


class FakeTwilio:
    def __init__(self, port: int, delay: float) -> None:
        self.port = port
        self.commands: Any = multiprocessing.Queue()
        self.results: Any = multiprocessing.Queue()
        self.process = multiprocessing.Process(
            target=_fake_twilio, args=(port, delay, self.commands, self.results), daemon=True
        )
        self.process.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def drain(self) -> dict[str, float]:
        """What arrived since the last drain: ``Body`` → arrival time."""
        self.commands.put("drain")
        return self.results.get()  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.commands.put("stop")
        self.process.join(10)


def wait_for(fake: FakeTwilio, wanted: set[str], timeout: float) -> dict[str, float]:
    """Everything the fake received until ``wanted`` all arrived (or ``timeout``)."""
    arrived: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while not wanted <= set(arrived) and time.monotonic() < deadline:
        time.sleep(0.2)
        arrived.update(fake.drain())
    return arrived


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


def _database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        known = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not known.fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=600, help="peak phase")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads")
    parser.add_argument("--pool", default="prefork", help="the worker's pool: prefork, threads")
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=15.0, help="latency phase length")
    parser.add_argument(
        "--latency-rate", type=float, default=0.0, help="sends/s of the latency phase"
    )
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--fake-port", type=int, default=8767)
    parser.add_argument("--keep", action="store_true", help="keep the tenant, to look into it")
    options = parser.parse_args()

    database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE)
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/5")
    _database(database_url)
    env = bench_environment(
        {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url},
        ENGIUM_PUBLIC_URL=f"http://127.0.0.1:{options.port}",
    )
    fake = FakeTwilio(options.fake_port, options.delay_ms / 1000)
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
                "--pool", options.pool, "--concurrency", str(options.worker_concurrency),
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

        def send(text: str, index: int) -> None:
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

        for warm in range(3):  # warm up web and worker
            send(f"warm-{warm}", warm)
        wait_for(fake, {f"warm-{warm}" for warm in range(3)}, 30)

        # ---- 1. peak through the worker: a backlog accepted while the worker consumes
        # nothing, then delivered; from the first receipt to the last.
        control = subprocess.run(
            [str(VENV_BIN / "celery"), "-A", "engium", "control", "cancel_consumer", "delivery"],
            env=env, cwd=BASE_DIR, check=True, capture_output=True,
        )  # fmt: skip
        assert b"no longer consuming" in control.stdout, control.stdout
        started = time.time()
        with ThreadPoolExecutor(options.concurrency) as pool:
            list(pool.map(lambda i: send(f"peak-{i}", i), range(options.messages)))
        wanted = {f"peak-{i}" for i in range(options.messages)}
        accepted = options.messages / (max(sent_at[text] for text in wanted) - started)
        subprocess.run(
            [str(VENV_BIN / "celery"), "-A", "engium", "control", "add_consumer", "delivery"],
            env=env, cwd=BASE_DIR, check=True, capture_output=True,
        )  # fmt: skip
        arrived = wait_for(fake, wanted, 180)
        peak_times = sorted(arrived[text] for text in wanted if text in arrived)
        peak = (len(peak_times) - 1) / (peak_times[-1] - peak_times[0])

        # ---- 3. latency at half of peak, sends paced one by one
        # The system's peak is what it both accepts and delivers per second: the lower of
        # the two (each measured above, alone on the machine).
        rate = options.latency_rate or min(accepted, peak) / 2
        count = int(rate * options.seconds)
        interval = 1 / rate
        with ThreadPoolExecutor(options.concurrency) as pool:
            next_at = time.monotonic()
            for i in range(count):
                pool.submit(send, f"paced-{i}", i)
                next_at += interval
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
        paced = {f"paced-{i}" for i in range(count)}
        arrived_paced = wait_for(fake, paced, 120)
        latencies = [
            (arrived_paced[text] - sent_at[text]) * 1000 for text in paced if text in arrived_paced
        ]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(20)

    # ---- 2. the plain client loop, against the same fake, alone on the machine as well
    plain = plain_loop(fake, count=options.messages, concurrency=options.concurrency)
    fake.stop()
    drop = (
        "from tenants.models import Tenant as T; T.objects.get(public_id={!r}).delete(force_drop=1)"
    )
    if not options.keep:
        manage(env, "shell", "-c", drop.format(tenant["tenant_id"]))

    print(
        f"fake provider (own process) answering after {options.delay_ms:g} ms; "
        f"client concurrency {options.concurrency}; worker pool {options.pool} × "
        f"{options.worker_concurrency}; gunicorn {options.web_workers} sync workers"
    )
    print(f"peak phase           : {len(peak_times)} / {options.messages} delivered")
    print(f"sends accepted (201) : {accepted:,.1f} per second")
    print(f"through the worker   : {peak:,.1f} messages/s (a backlog of {options.messages})")
    print(f"plain client loop    : {plain:,.1f} messages/s")
    print(f"ratio                : {peak / plain:.2f} (aim ≥ 0.5)")
    print(
        f"201 → receipt at {rate:,.1f} sends/s ({len(latencies)} / {count} delivered): "
        f"p50 {statistics.median(latencies):,.0f} ms, p99 {percentile(latencies, 0.99):,.0f} ms "
        f"(aim: p99 ≤ {options.delay_ms + 100:g} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
