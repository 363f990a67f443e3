"""Benchmark of the send endpoint, run by hand: ``make bench`` (or ``python -m bench.run``).

Measures, in one run on the same gunicorn configuration:
* requests per second of ``POST /api/v1/conversations/send``, of a bare Django JSON view (the
  ceiling) and of a bare view doing one durable INSERT of the body (the floor of "accepted
  and will not be lost"), with wrk, and prints the send's ratio to each;
* SQL statements per warm send, counted on the wire (libpq trace of the connection),
  so `SET search_path`, BEGIN and COMMIT are seen too.

No worker runs: the send's cost ends at the broker, where tasks are left queued.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
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
LUA_VARIED_RECIPIENTS = """
wrk.method = "POST"
local template = %s
request = function()
  local recipient = string.format("+1555%%07d", math.random(1000000, 9999999))
  return wrk.format(nil, nil, nil, string.gsub(template, "RECIPIENT", recipient))
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
) -> float:
    args = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
    if vary_recipient:
        template = body.replace(BODY["recipient"], "RECIPIENT")
        script.write(LUA_VARIED_RECIPIENTS % json.dumps(template))
    else:
        script.write(f"wrk.method = 'POST'\nwrk.body = {json.dumps(body)}\n")
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


def count_statements(env: dict[str, str], tenant: dict[str, str]) -> list[str]:
    """The statements one warm send puts on the wire, run in-process through the full stack."""
    code = f"""
import json, os, re, tempfile, django
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
def send():
    # The test client skips this request_started handler; gunicorn runs it (health checks).
    close_old_connections()
    answer = client.post("/api/v1/conversations/send", body, content_type="application/json",
                         **headers)
    assert answer.status_code == 201, answer.content
for _ in range(3):  # warm: caches filled, key's last use recorded, connection open
    send()
trace = tempfile.NamedTemporaryFile(delete=False)
connection.ensure_connection()
pgconn = connection.connection.pgconn
pgconn.trace(trace.fileno())
send()
pgconn.untrace()
trace.close()
text = open(trace.name, errors="replace").read()
for record in re.split(r"\\n(?=[^\\n]*\\t[FB]\\t\\d+\\t)", text):
    m = re.search(r"\\tF\\t\\d+\\t(?:Query|Parse)\\t(.*)", record, re.S)
    if m:
        print(" ".join(m.group(1).split())[:100])
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="> 1: gthread workers")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--same-recipient", action="store_true", help="every send to +15550102999 (one hot row)"
    )
    options = parser.parse_args()

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

    server = subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "engium.wsgi",
            "--bind",
            f"127.0.0.1:{options.port}",
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
    try:
        time.sleep(3)
        base = f"http://127.0.0.1:{options.port}"
        auth = {
            "Authorization": f"Bearer {tenant['api_key']}",
            "X-Tenant-ID": tenant["tenant_id"],
            "Content-Type": "application/json",
        }
        body = json.dumps(BODY)
        vary = not options.same_recipient

        def measure(path: str, seconds: int) -> float:
            return wrk(
                f"{base}{path}",
                seconds=seconds,
                connections=options.connections,
                headers=auth,
                body=body,
                vary_recipient=vary,
            )

        # warm every path, then alternate to spread the machine's noise over all
        for path in ("/bench/bare", "/bench/durable", "/api/v1/conversations/send"):
            measure(path, 2)
        bare, durable, send = [], [], []
        for _ in range(options.rounds):
            bare.append(measure("/bench/bare", options.seconds))
            durable.append(measure("/bench/durable", options.seconds))
            send.append(measure("/api/v1/conversations/send", options.seconds))
    finally:
        server.terminate()
        server.wait(20)

    statements = count_statements(env, tenant)
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
    own = [s for s in statements if s.strip('" ').upper() not in ("BEGIN", "COMMIT", "ROLLBACK")]
    best_bare, best_durable, best_send = max(bare), max(durable), max(send)
    print(
        f"gunicorn: {options.workers} workers x {options.threads} threads; "
        f"wrk: {options.connections} connections, "
        f"{options.seconds}s x {len(bare)} rounds each; "
        f"{'one recipient' if options.same_recipient else 'a random recipient per send'}"
    )
    print(f"bare Django JSON view  : {', '.join(f'{r:,.0f}' for r in bare)} requests/s")
    print(f"one durable INSERT view: {', '.join(f'{r:,.0f}' for r in durable)} requests/s")
    print(f"POST conversations/send: {', '.join(f'{r:,.0f}' for r in send)} requests/s")
    print(f"ratio send / bare (best of each): {best_send / best_bare:.2f}")
    print(
        f"ratio send / durable INSERT (best of each): {best_send / best_durable:.2f}  (aim: >= 0.6)"
    )
    print(
        f"SQL statements per warm send: {len(own)} (+ {len(statements) - len(own)} "
        f"transaction control)  (aim: <= 4)"
    )
    for statement in statements:
        print(f"    {statement}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
