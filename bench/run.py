"""Benchmark of the send endpoint, run by hand: ``make bench`` (or ``python -m bench.run``).

Measures, in one run on one gunicorn configuration (`deploy/gunicorn.conf.py`, with the
worker class, processes and threads given on the command line, the same for every arm):
* requests per second, with wrk, of four arms, measured in interleaved rounds:
  - a bare Django JSON view (the ceiling),
  - a bare view doing one durable INSERT of the body in autocommit (the floor of "accepted
    and will not be lost"),
  - the real send, ``POST /api/v1/conversations/send`` with the rate limiter on and an
    ``Idempotency-Key`` of its own on every request, as a careful client sends,
  - the same send with the rate limiter off (a bench-only route), to price the limiter;
* the send's ratio to each arm per round: their median and spread (lowest to highest);
* SQL statements per warm send, with and without a key, counted on the wire (libpq trace
  of the connection), so `SET search_path`, BEGIN and COMMIT are seen too.

No worker runs: the send's cost ends at the broker, where tasks are left queued.
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
import time
import urllib.request
from pathlib import Path

from bench.common import bench_environment, manage

BASE_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
BODY = {
    "recipient": "+15550102999",
    "channel": "whatsapp",
    "message": {"text": "Hello from Engium! How can we help you today?"},
}


# Each request writes to a different recipient (as real traffic does), unless
# --same-recipient: then every send updates one conversation row and they queue on its lock.
# With keys, each request carries an Idempotency-Key no other request of the run has.
LUA_REQUESTS = """
wrk.method = "POST"
local template = %(template)s
local vary = %(vary)s
local keyed = %(keyed)s
local threads = 0
local sent = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end
request = function()
  sent = sent + 1
  local body = template
  if vary then
    local recipient = string.format("+1555%%07d", math.random(1000000, 9999999))
    body = string.gsub(template, "RECIPIENT", recipient)
  end
  local headers = nil
  if keyed then
    headers = {}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    headers["Idempotency-Key"] = string.format("%(nonce)s-%%d-%%d", thread_number, sent)
  end
  return wrk.format(nil, nil, headers, body)
end
"""


def wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    headers: dict[str, str],
    body: str,
    vary_recipient: bool = False,
    keyed: bool = False,
) -> float:
    args = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
    script.write(
        LUA_REQUESTS
        % {
            "template": json.dumps(
                body.replace(BODY["recipient"], "RECIPIENT") if vary_recipient else body
            ),
            "vary": "true" if vary_recipient else "false",
            "keyed": "true" if keyed else "false",
            "nonce": f"bench-{time.time_ns()}",
        }
    )
    script.close()
    args += ["-s", script.name]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    output = subprocess.run([*args, url], check=True, capture_output=True, text=True).stdout
    os.unlink(script.name)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise SystemExit(f"{url}: {non_2xx.group(1)} failed requests\n{output}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    assert match, output
    return float(match.group(1))


def count_statements(env: dict[str, str], tenant: dict[str, str], *, keyed: bool) -> list[str]:
    """The statements one warm send puts on the wire, run in-process through the full stack."""
    code = f"""
import itertools, json, os, re, tempfile, django
django.setup()
from django.db import connection
from django.test import Client
client = Client()
headers = {{
    "HTTP_AUTHORIZATION": "Bearer {tenant["api_key"]}",
    "HTTP_X_TENANT_ID": "{tenant["tenant_id"]}",
}}
body = json.dumps({json.dumps(BODY)})
from django.db import close_old_connections
keys = itertools.count()
def send():
    # The test client skips this request_started handler; gunicorn runs it (health checks).
    close_old_connections()
    key = {{"HTTP_IDEMPOTENCY_KEY": f"statements-{{next(keys)}}"}} if {keyed} else {{}}
    answer = client.post("/api/v1/conversations/send", body, content_type="application/json",
                         **headers, **key)
    assert answer.status_code == 201, answer.content
# Traced from the start: a statement prepared by an earlier send is only named later.
trace = tempfile.NamedTemporaryFile(delete=False)
connection.ensure_connection()
pgconn = connection.connection.pgconn
pgconn.trace(trace.fileno())
for _ in range(3):  # warm: caches filled, key's last use recorded, statements prepared
    send()
connection.connection.execute("SELECT 'one warm send follows'")
send()
pgconn.untrace()
trace.close()
text = open(trace.name, errors="replace").read()
prepared, unnamed, bound, after_marker = {{}}, "", "", False
for record in re.split(r"\\n(?=[^\\n]*\\t[FB]\\t\\d+\\t)", text):
    m = re.search(r"\\tF\\t\\d+\\t(Query|Parse|Bind|Execute)\\t(.*)", record, re.S)
    if not m:
        continue
    kind, rest = m.groups()
    if kind == "Parse":  # "name" "text" ...
        name, statement = re.match(r'\\s*"([^"]*)" "(.*)"', rest, re.S).groups()
        prepared[name] = statement
        unnamed = statement if not name else unnamed
    elif kind == "Bind":  # "portal" "statement" ...
        bound = re.match(r'\\s*"[^"]*" "([^"]*)"', rest).group(1)
    statement = rest if kind == "Query" else prepared.get(bound, unnamed)
    if kind in ("Query", "Execute") and "one warm send follows" in statement:
        after_marker = True
    elif kind in ("Query", "Execute") and after_marker:
        label = "(prepared) " if kind == "Execute" and bound else ""
        print(label + " ".join(statement.split())[:100])
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "DJANGO_SETTINGS_MODULE": "bench.settings"},
        cwd=BASE_DIR,
        check=True,
        capture_output=True,
        text=True,
    )
    return [line for line in result.stdout.splitlines() if line.strip()]


#: The arms, in the order each round measures them: (name, path, with Idempotency-Key).
ARMS = (
    ("bare", "/bench/bare", False),
    ("durable", "/bench/durable", False),
    ("send", "/api/v1/conversations/send", True),
    ("unlimited", "/api/v1/bench/send-unlimited", True),
)
LABELS = {
    "bare": "bare Django JSON view",
    "durable": "one durable INSERT view",
    "send": "POST conversations/send",
    "unlimited": "  the same, limiter off",
}


def wait_until_serving(url: str, server: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Return once ``url`` answers (a loaded machine boots gunicorn slowly)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, data=b"{}", timeout=5).close()
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def spread(values: list[float]) -> str:
    """Median and range of ``values``: ``0.62 (0.58-0.66)``."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--seconds", type=int, default=2, help="per arm and round (short: see --rounds)"
    )
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per worker; > 1 runs gthread workers"
    )
    parser.add_argument("--port", type=int, default=8765)
    # Many short rounds: these machines' CPU speed drifts over seconds, so arms measured
    # side by side in short turns see much the same machine, and a slow stretch moves one
    # or two of many per-round ratios rather than the median of a few.
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--same-recipient", action="store_true", help="every send to +15550102999 (one hot row)"
    )
    options = parser.parse_args()
    worker_class = "gthread" if options.threads > 1 else "sync"

    from devtools.embedded import ensure_services

    services = ensure_services(local_first=True)
    env = bench_environment(services.environ())
    manage(env, "migrate_schemas", "--shared", "-v", "0")
    tenant = json.loads(
        manage(
            env,
            "create_tenant",
            "--name",
            "bench",
            "--plan",
            "pro",
            "--rate-limit",
            "10000000",
            "--json",
        )
    )
    from_shell = (
        "import json\nfrom django_tenants.utils import schema_context\n"
        "from tenants.models import Tenant\nfrom integrations.services import connect_integration\n"
        f"t = Tenant.objects.get(public_id='{tenant['tenant_id']}')\n"
        "with schema_context(t.schema_name):\n"
        "    connect_integration(channel='whatsapp', provider='sandbox', config={})\n"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", from_shell], env=env, cwd=BASE_DIR, check=True
    )
    manage(
        {**env, "DJANGO_SETTINGS_MODULE": "bench.settings"},
        "shell",
        "-c",
        "from django.db import connection\nfrom bench.urls import DURABLE_TABLE\n"
        "connection.cursor().execute(f'CREATE TABLE IF NOT EXISTS {DURABLE_TABLE} "
        "(id bigserial PRIMARY KEY, body text NOT NULL)')",
    )

    # The production configuration file; the worker model is the same for every arm.
    server = subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "--config",
            str(BASE_DIR / "deploy" / "gunicorn.conf.py"),
            "engium.wsgi",
            "--bind",
            f"127.0.0.1:{options.port}",
            "--worker-class",
            worker_class,
            "--workers",
            str(options.workers),
            "--threads",
            str(options.threads),
            "--log-level",
            "error",
        ],
        env={**env, "DJANGO_SETTINGS_MODULE": "bench.settings"},
        cwd=BASE_DIR,
    )
    rates: dict[str, list[float]] = {name: [] for name, _, _ in ARMS}
    try:
        base = f"http://127.0.0.1:{options.port}"
        wait_until_serving(f"{base}/bench/bare", server)
        auth = {
            "Authorization": f"Bearer {tenant['api_key']}",
            "X-Tenant-ID": tenant["tenant_id"],
            "Content-Type": "application/json",
        }
        body = json.dumps(BODY)

        def measure(path: str, seconds: int, keyed: bool) -> float:
            return wrk(
                f"{base}{path}",
                seconds=seconds,
                connections=options.connections,
                headers=auth,
                body=body,
                vary_recipient=not options.same_recipient,
                keyed=keyed,
            )

        # warm every path, then alternate to spread the machine's noise over all
        for _, path, keyed in ARMS:
            measure(path, 2, keyed)
        for _ in range(options.rounds):
            for name, path, keyed in ARMS:
                rates[name].append(measure(path, options.seconds, keyed))
    finally:
        server.terminate()
        server.wait(20)

    statements = count_statements(env, tenant, keyed=True)
    unkeyed = count_statements(env, tenant, keyed=False)
    drop = (
        "from tenants.models import Tenant as T; T.objects.get(public_id={!r}).delete(force_drop=1)"
    )
    manage(env, "shell", "-c", drop.format(tenant["tenant_id"]))
    manage(
        {**env, "DJANGO_SETTINGS_MODULE": "bench.settings"},
        "shell",
        "-c",
        "from django.db import connection\nfrom bench.urls import DURABLE_TABLE\n"
        "connection.cursor().execute(f'DROP TABLE IF EXISTS {DURABLE_TABLE}')",
    )

    def ratios(numerator: str, denominator: str) -> list[float]:
        return [a / b for a, b in zip(rates[numerator], rates[denominator], strict=True)]

    def own(listed: list[str]) -> list[str]:
        control = ("BEGIN", "COMMIT", "ROLLBACK")
        return [s for s in listed if s.strip('" ').upper() not in control]

    print(
        f"gunicorn (deploy/gunicorn.conf.py): {options.workers} {worker_class} workers x "
        f"{options.threads} threads; wrk: {options.connections} connections, "
        f"{options.seconds}s x {options.rounds} interleaved rounds per arm; "
        f"{'one recipient' if options.same_recipient else 'a random recipient per send'}; "
        "sends with an Idempotency-Key each"
    )
    for name, _, _ in ARMS:
        listed = ", ".join(f"{rate:,.0f}" for rate in rates[name])
        print(
            f"{LABELS[name]:<24}: {listed} requests/s "
            f"(median {statistics.median(rates[name]):,.0f})"
        )
    print("ratios per round, median (lowest-highest):")
    print(f"  send / durable INSERT : {spread(ratios('send', 'durable'))}  (aim: >= 0.6)")
    print(f"  send / bare           : {spread(ratios('send', 'bare'))}")
    print(f"  limiter on / off      : {spread(ratios('send', 'unlimited'))}  (aim: >= 0.95)")
    print(
        f"SQL statements per warm send with a key: {len(own(statements))} "
        f"(+ {len(statements) - len(own(statements))} transaction control); "
        f"without: {len(own(unkeyed))} (+ {len(unkeyed) - len(own(unkeyed))})"
    )
    for statement in statements:
        print(f"    {statement}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
