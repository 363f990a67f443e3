"""Benchmark of tenant scale, run by hand: ``python -m bench.tenants [--tenants 1000]``.

In a database of its own (dropped afterwards unless ``--keep``), it measures:

* **creation**: ``create_tenant`` for each of N tenants in one process (start-up excluded):
  median, p90 and max seconds per tenant (the schema is cloned from the migrated template);
* **no-op migration**: ``manage.py migrate_schemas`` over all N tenants, wall time, next to
  the time of ``manage.py check`` (the start-up it includes);
* **one-column migration**: a migration adding a column to a table of every tenant (the
  `bench.probe` app, whose migration this script writes), wall time, with the processes
  ``--processes``;
* **sends spread over N tenants** against **sends to one tenant**: requests per second of
  ``POST /api/v1/conversations/send`` through gunicorn with wrk, each request with a random
  tenant's key, then every request with one tenant's (cache and connection effects).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench.common import BASE_DIR, bench_environment, manage, percentile

VENV_BIN = Path(sys.executable).parent
BODY = {
    "recipient": "+15550102999",
    "channel": "whatsapp",
    "message": {"text": "Hello from Engium! How can we help you today?"},
}

FIRST_MIGRATION = """
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Probe",
            fields=[("id", models.BigAutoField(primary_key=True, serialize=False))],
        ),
    ]
"""

COLUMN_MIGRATION = """
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("probe", "0001_initial")]
    operations = [
        migrations.AddField(
            model_name="probe",
            name="note",
            field=models.CharField(max_length=40, default="", db_default=""),
        ),
    ]
"""

CREATE_TENANTS = """
import json, sys, time, django
django.setup()
from django_tenants.utils import schema_context
from integrations.services import connect_integration
from tenants.services import create_tenant
seconds, credentials = [], []
for index in range({count}):
    started = time.perf_counter()
    tenant, issued = create_tenant(name=f"bench {{index}}", plan="pro", rate_limit=10_000_000)
    seconds.append(time.perf_counter() - started)
    with schema_context(tenant.schema_name):
        connect_integration(channel="whatsapp", provider="sandbox", config={{}})
    credentials.append([tenant.public_id, issued.raw_key])
    if (index + 1) % 100 == 0:
        print(f"  {{index + 1}} tenants", file=sys.stderr, flush=True)
json.dump({{"seconds": seconds, "credentials": credentials}}, open({out!r}, "w"))
"""

LUA_SPREAD = """
wrk.method = "POST"
wrk.body = %s
wrk.headers["Content-Type"] = "application/json"
local credentials = %s
request = function()
  local pair = credentials[math.random(1, #credentials)]
  wrk.headers["X-Tenant-ID"] = pair[1]
  wrk.headers["Authorization"] = "Bearer " .. pair[2]
  return wrk.format()
end
"""


def timed(env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.monotonic()
    output = manage(env, *args)
    return time.monotonic() - started, output


def wrk(url: str, script: str, *, seconds: int, connections: int) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        output = subprocess.run(
            ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "-s", file.name, url],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(file.name)
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if failed:
        raise SystemExit(f"{failed.group(1)} sends failed\n{output}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert match, output
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=0, help="migrate_schemas --processes")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark's database")
    options = parser.parse_args()

    from devtools.embedded import ensure_services

    services = ensure_services(local_first=True).environ()
    url = urlsplit(services["DATABASE_URL"])
    database = f"{url.path.lstrip('/') or 'engium'}_tenants_bench"
    admin_url = urlunsplit(url._replace(path="/postgres"))
    services["DATABASE_URL"] = urlunsplit(url._replace(path=f"/{database}"))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
        admin.execute(f'CREATE DATABASE "{database}"')

    workdir = Path(tempfile.mkdtemp(prefix="engium-bench-tenants-"))
    migrations = workdir / "bench_probe_migrations"
    migrations.mkdir()
    (migrations / "__init__.py").write_text("")
    (migrations / "0001_initial.py").write_text(FIRST_MIGRATION)
    env = bench_environment(
        services,
        DJANGO_SETTINGS_MODULE="bench.tenant_settings",
        PYTHONPATH=f"{BASE_DIR}{os.pathsep}{workdir}",
    )
    processes = ["--processes", str(options.processes)] if options.processes else []
    server = None
    try:
        manage(env, "migrate_schemas", "-v", "0")

        print(f"creating {options.tenants} tenants …", file=sys.stderr)
        out = workdir / "tenants.json"
        subprocess.run(
            [sys.executable, "-c", CREATE_TENANTS.format(count=options.tenants, out=str(out))],
            env=env,
            cwd=BASE_DIR,
            check=True,
        )
        created = json.loads(out.read_text())
        seconds, credentials = created["seconds"], created["credentials"]

        startup, _ = timed(env, "check")
        noop, noop_output = timed(env, "migrate_schemas", *processes)
        (migrations / "0002_probe_note.py").write_text(COLUMN_MIGRATION)
        column, column_output = timed(env, "migrate_schemas", *processes)
        migrated = re.search(r"Migrated (\d+) tenants, (\d+) failed", column_output)

        server = subprocess.Popen(
            [
                str(VENV_BIN / "gunicorn"),
                "engium.wsgi",
                "--bind",
                f"127.0.0.1:{options.port}",
                "--workers",
                str(options.workers),
                "--log-level",
                "error",
            ],
            env=env,
            cwd=BASE_DIR,
        )
        time.sleep(3)
        send_url = f"http://127.0.0.1:{options.port}/api/v1/conversations/send"
        body = json.dumps(json.dumps(BODY))
        spread_script = LUA_SPREAD % (body, _lua_table(credentials))
        one_script = LUA_SPREAD % (body, _lua_table(credentials[:1]))
        wrk(send_url, one_script, seconds=2, connections=options.connections)  # warm
        spread, one = [], []
        for _ in range(2):
            spread.append(
                wrk(
                    send_url,
                    spread_script,
                    seconds=options.seconds,
                    connections=options.connections,
                )
            )
            one.append(
                wrk(send_url, one_script, seconds=options.seconds, connections=options.connections)
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        if not options.keep:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    print(f"tenants: {len(seconds)} in database {database}{' (kept)' if options.keep else ''}")
    print(
        "create_tenant, seconds per tenant: "
        f"median {statistics.median(seconds):.3f}, p90 {percentile(seconds, 0.9):.3f}, "
        f"max {max(seconds):.3f}  (aim: <= 0.3)"
    )
    noop_line = next((line for line in noop_output.splitlines() if "up to date" in line), "")
    print(
        f"migrate_schemas, nothing to do: {noop:.1f} s wall, of which start-up "
        f"(manage.py check) {startup:.1f} s  (aim: <= 60)  [{noop_line.strip()}]"
    )
    print(
        f"migrate_schemas, one column over every tenant: {column:.1f} s wall"
        + (f" ({migrated.group(1)} migrated, {migrated.group(2)} failed)" if migrated else "")
    )
    print(
        f"sends, {options.workers} gunicorn workers, wrk {options.connections} connections, "
        f"{options.seconds}s x 2 each:"
    )
    print(f"  spread over {len(credentials)} tenants: {_rates(spread)} requests/s")
    print(f"  one tenant              : {_rates(one)} requests/s")
    print(f"  ratio spread / one (best of each): {max(spread) / max(one):.2f}")
    return 0


def _rates(values: list[float]) -> str:
    return ", ".join(f"{value:,.0f}" for value in values)


def _lua_table(credentials: list[list[str]]) -> str:
    rows = ", ".join(f'{{"{tenant}", "{key}"}}' for tenant, key in credentials)
    return textwrap.fill(f"{{{rows}}}", 200)


if __name__ == "__main__":
    sys.exit(main())
