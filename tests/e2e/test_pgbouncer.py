"""PgBouncer in session pooling in front of PostgreSQL: the search path never leaks.

Engium sets a connection's `search_path` once per tenant switch (django-tenants with
``TENANT_LIMIT_SET_CALLS``) and relies on it staying set for that connection: a pooler must
give a client the same server connection for its whole session, and clean it
(``server_reset_query = DISCARD ALL``) before another client gets it. These tests run
Debian's pgbouncer that way, check the reset on the wire, then run web and worker through it
with a pool smaller than the clients, several tenants sending at once, and find every
tenant's data its own.

CI installs pgbouncer (``ENGIUM_REQUIRE_PGBOUNCER=1``); elsewhere they are skipped without it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings

from tests.e2e.conftest import Stack, Tenant, free_port, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


class PgBouncer:
    """pgbouncer in session mode on a port of its own, in front of the test database."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        db = settings.DATABASES["default"]
        host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
        target = f"host={host} port={port} dbname={db['NAME']} user={db.get('USER') or 'postgres'}"
        (self.workdir / "users.txt").write_text('"postgres" ""\n')
        (self.workdir / "pgbouncer.ini").write_text(
            "[databases]\n"
            # fewer server connections than web, worker and beat processes use at times
            f"engium = {target} pool_size=6\n"
            # one server connection: every client of this alias gets the same one, in turn
            f"single = {target} pool_size=1\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.workdir / 'users.txt'}\n"
            "pool_mode = session\n"
            "server_reset_query = DISCARD ALL\n"
            "max_client_conn = 200\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {self.workdir / 'pgbouncer.log'}\n"
        )
        args = [PGBOUNCER, str(self.workdir / "pgbouncer.ini")]
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            shutil.chown(self.workdir, "postgres")
            args[1:1] = ["-u", "postgres"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_until(self._answers, 30, "pgbouncer did not start")
        except AssertionError:
            log = self.workdir / "pgbouncer.log"
            print(log.read_text() if log.exists() else "(no log)")
            raise

    def url(self, alias: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{alias}"

    def _answers(self) -> bool:
        try:
            with psycopg.connect(self.url("single"), connect_timeout=5):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture(scope="module")
def pgbouncer(django_db_setup: None) -> Iterator[PgBouncer]:  # (in front of the test database)
    if not os.path.exists(PGBOUNCER):
        if os.environ.get("ENGIUM_REQUIRE_PGBOUNCER") == "1":
            pytest.fail("pgbouncer is required (ENGIUM_REQUIRE_PGBOUNCER=1) but not installed")
        pytest.skip("pgbouncer is not installed")
    workdir = Path(tempfile.mkdtemp(prefix="engium-pgbouncer-"))
    os.chmod(workdir, 0o755)  # noqa: S103  (read by the postgres user pgbouncer runs as)
    bouncer = PgBouncer(workdir)
    try:
        bouncer.start()
        yield bouncer
    finally:
        bouncer.stop()
        shutil.rmtree(workdir, ignore_errors=True)


class BouncedStack(Stack):
    """The end-to-end stack, its web and worker connecting through pgbouncer."""

    def __init__(self, workdir: Path, database_url: str) -> None:
        super().__init__(workdir)
        self.env["DATABASE_URL"] = database_url


@pytest.fixture(scope="module")
def bounced_stack(
    django_db_setup: None, django_db_blocker: Any, pgbouncer: PgBouncer
) -> Iterator[BouncedStack]:
    workdir = Path(tempfile.mkdtemp(prefix="engium-bounced-"))
    stack = BouncedStack(workdir, pgbouncer.url("engium").replace("postgresql", "postgres", 1))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        from tenants.models import Tenant as TenantModel

        with django_db_blocker.unblock():
            for tenant in TenantModel.objects.filter(name__startswith="e2e bounced"):
                tenant.delete(force_drop=True)
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_server_connection_handed_to_the_next_client_has_its_search_path_reset(
    pgbouncer: PgBouncer,
) -> None:
    with psycopg.connect(pgbouncer.url("single"), autocommit=True) as first:
        (backend,) = first.execute("SELECT pg_backend_pid()").fetchone() or (None,)
        first.execute('SET search_path TO "t_some_tenant", public')
        assert first.execute("SHOW search_path").fetchone() == ("t_some_tenant, public",)
    with psycopg.connect(pgbouncer.url("single"), autocommit=True) as second:
        # the same server connection (the pool holds one), cleaned for its new client
        assert second.execute("SELECT pg_backend_pid()").fetchone() == (backend,)
        assert second.execute("SHOW search_path").fetchone() == ('"$user", public',)


def test_tenants_sending_at_once_through_pgbouncer_each_see_only_their_own(
    bounced_stack: BouncedStack,
) -> None:
    tenants = [
        Tenant(bounced_stack, bounced_stack.create_tenant(f"e2e bounced {n}")) for n in range(3)
    ]
    for tenant in tenants:
        answer = tenant.client.post(
            "integrations", json={"channel": "sms", "provider": "sandbox", "config": {}}
        )
        assert answer.status_code == 201, answer.text
    recipients = {
        # (not ending in 0001 or 0002, numbers the sandbox treats specially)
        tenant.id: [f"+1555010{n}{m + 20:03d}" for m in range(12)]
        for n, tenant in enumerate(tenants)
    }
    failures: list[str] = []

    def send_all(tenant: Tenant) -> None:
        for recipient in recipients[tenant.id]:
            answer = tenant.client.post(
                "conversations/send",
                json={"recipient": recipient, "channel": "sms", "message": {"text": tenant.id}},
            )
            if answer.status_code != 201:
                failures.append(answer.text)
            # a read between sends: another tenant's search path must never show through
            listed = tenant.client.get("conversations", params={"limit": 100})
            if listed.status_code != 200:
                failures.append(listed.text)
                continue
            strangers = {c["recipient"] for c in listed.json()["data"]} - set(recipients[tenant.id])
            if strangers:
                failures.append(f"{tenant.id} saw {strangers}")

    threads = [threading.Thread(target=send_all, args=(t,)) for t in tenants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []

    def delivered(tenant: Tenant) -> bool:
        page = tenant.client.get("conversations", params={"limit": 100}).json()["data"]
        statuses = [
            tenant.client.get(f"conversations/{c['id']}").json()["messages"][0]["status"]
            for c in page
        ]
        return len(page) == 12 and all(s in {"sent", "delivered"} for s in statuses)

    try:
        for tenant in tenants:
            wait_until(lambda t=tenant: delivered(t), 60, "every message delivered")
    except AssertionError:
        for tenant in tenants:
            page = tenant.client.get("conversations", params={"limit": 100}).json()["data"]
            detail = tenant.client.get(f"conversations/{page[0]['id']}").json()
            print(tenant.id, len(page), detail)
        print(bounced_stack.logs())
        raise
    for tenant in tenants:
        page = tenant.client.get("conversations", params={"limit": 100}).json()["data"]
        assert sorted(c["recipient"] for c in page) == sorted(recipients[tenant.id])
        texts = {
            m["text"]
            for c in page
            for m in tenant.client.get(f"conversations/{c['id']}").json()["messages"]
        }
        assert texts == {tenant.id}
