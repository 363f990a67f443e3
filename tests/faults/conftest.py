"""A stack of its own for the fault suite, whose every part a test may kill or restart.

Unlike the end-to-end stack (which shares the test database and Redis), this one owns its
PostgreSQL (an embedded server in a temporary folder, so that a test can restart it), its
Redis (cache, rate limiter and broker in one server, as a small deployment has them), and
its web, worker and beat processes. Providers and webhook receivers are local test servers.

What the tests count is read from that database directly (`FaultStack.query`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest

from devtools.launcher import process_commands
from tests.e2e.conftest import BASE_DIR, Broker, free_port, stop_processes, wait_until
from tests.fakes import FakeTwilio, form_of
from tests.http_server import Received, ScriptedServer

DATABASE = "engium_faults"


class EmbeddedPostgres:
    """A PostgreSQL server in a folder of its own, restartable (pgserver's binaries)."""

    def __init__(self, workdir: Path) -> None:
        self.datadir = workdir / "pgdata"
        self.server: Any = None

    def start(self) -> str:
        import pgserver

        # (its exit hook logs after pytest closed the streams)
        logging.getLogger("pgserver").setLevel(logging.WARNING)

        self.datadir.mkdir(parents=True)
        self.server = pgserver.get_server(self.datadir, cleanup_mode=None)
        self.server.psql(f"CREATE DATABASE {DATABASE};")
        socket_dir = self.server.get_postmaster_info().socket_dir
        return f"postgres://postgres@/{DATABASE}?host={socket_dir}"

    def pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(["-w", *args], pgdata=self.datadir, user=self.server.system_user)

    def restart(self) -> None:
        self.pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        if self.server is not None:
            self.pg_ctl("stop", "-m", "immediate")


class CountingTwilio(FakeTwilio):
    """Twilio that takes every message, counted by its text; ``kill_next`` SIGKILLs the
    worker process calling it, once, after taking the message and before answering."""

    def __init__(self) -> None:
        super().__init__()
        self.kill_next = threading.Event()
        self.killed = threading.Event()

    def _created(self, received: Received) -> Any:
        answer = super()._created(received)
        if received.method == "POST" and self.kill_next.is_set() and not self.killed.is_set():
            for conn in psutil.net_connections(kind="tcp"):
                caller = conn.laddr and conn.laddr.port == received.peer_port
                if caller and conn.pid and conn.pid != os.getpid():
                    os.kill(conn.pid, signal.SIGKILL)
                    self.killed.set()
        return answer

    def times_taken(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for received in self.received:
            if received.method == "POST":
                text = form_of(received).get("Body", "")
                counts[text] = counts.get(text, 0) + 1
        return counts


class FaultStack:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.postgres = EmbeddedPostgres(workdir)
        self.redis = Broker(workdir)
        self.web_port = free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.commands: dict[str, list[str]] = {}
        self.env: dict[str, str] = {}
        self.database_url = ""
        self.revived: list[str] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self) -> None:
        self.database_url = self.postgres.start()
        self.redis.start()
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": f"redis://127.0.0.1:{self.redis.port}/1",
            "CELERY_BROKER_URL": self.redis.url,
            "ENGIUM_CACHE_PREFIX": "engium-faults",
            "ENGIUM_PUBLIC_URL": f"http://127.0.0.1:{self.web_port}",
            "ENGIUM_OUTBOX_SWEEP_SECONDS": "1",
            "ENGIUM_DELIVERY_LEASE_SECONDS": "5",
            "ENGIUM_REDISPATCH_AFTER_SECONDS": "3",
            "ENGIUM_DELIVERY_BACKOFF_BASE_SECONDS": "1",
            "ENGIUM_DELIVERY_BACKOFF_MAX_SECONDS": "3",
            "ENGIUM_WEBHOOKS_ALLOW_PRIVATE": "1",
            "ENGIUM_WEBHOOK_RETRY_SCHEDULE": "1,1,1,2,2,2,5,10,30",
            "DATABASE_CONN_MAX_AGE": "0",
            "PYTHONPATH": str(BASE_DIR),
            "LOG_LEVEL": "WARNING",
        }
        self.manage("migrate_schemas", "-v", "0")
        self.commands = process_commands(
            port=self.web_port, web_workers=2, beat_schedule=self.workdir / "beat-schedule"
        )
        self.commands["worker"] += ["--without-gossip", "--without-mingle"]
        for name in self.commands:
            self.spawn(name)
        wait_until(self._web_up, 60, "web server did not answer /healthz")

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            env=self.env,
            cwd=BASE_DIR,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def spawn(self, name: str) -> None:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        self.processes[name] = subprocess.Popen(
            self.commands[name], env=self.env, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT
        )

    def restart(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes[name]
        children = psutil.Process(process.pid).children(recursive=True)
        if process.poll() is None:
            process.send_signal(sig)
            process.wait(30)
        for child in children:  # a killed worker's pool processes go with it
            if child.is_running():
                child.kill()
        self.spawn(name)

    def revive(self) -> list[str]:
        """Start again any process that has exited, as its supervisor (systemd's
        ``Restart=always``) does in production: a Celery worker on the Redis transport dies
        of a broker connection lost while it holds unacknowledged tasks (kombu's
        "Unrecoverable error"). Each restart is counted in ``revived``."""
        restarted = [name for name, process in self.processes.items() if process.poll() is not None]
        for name in restarted:
            self.spawn(name)
            self.revived.append(name)
        return restarted

    def _web_up(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        stop_processes(self.processes.values())
        self.redis.stop()
        self.postgres.stop()

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.workdir.glob("*.log"))
        )

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows from the stack's database (retried while it restarts)."""
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(
                    self.database_url.replace("postgres://", "postgresql://")
                ) as conn:
                    return list(conn.execute(sql, params or []).fetchall())
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def tenant(self, name: str, provider: CountingTwilio) -> FaultTenant:
        created = json.loads(
            self.manage(
                "create_tenant", "--name", name, "--plan", "pro", "--rate-limit", "100000", "--json"
            )
        )
        tenant = FaultTenant(self, created)
        answer = tenant.client.post(
            "integrations",
            json={
                "channel": "sms",
                "provider": "twilio",
                "config": provider.config(),
                "is_default": True,
            },
        )
        assert answer.status_code == 201, answer.text
        return tenant


class FaultTenant:
    def __init__(self, stack: FaultStack, created: dict[str, str]) -> None:
        self.stack = stack
        self.id = created["tenant_id"]
        self.schema = created["schema_name"]
        self.client = httpx.Client(
            base_url=f"{stack.base_url}/api/v1/",
            headers={"Authorization": f"Bearer {created['api_key']}", "X-Tenant-ID": self.id},
            timeout=30,
        )

    def messages(self) -> dict[str, tuple[str, str]]:
        """Every outbound message's text → (status, error code)."""
        rows = self.stack.query(
            f'SELECT text, status, error_code FROM "{self.schema}".conversations_message '
            "WHERE direction = 'outbound'"
        )
        return {text: (status, error) for text, status, error in rows}

    def events(self) -> set[str]:
        return {
            event_id
            for (event_id,) in self.stack.query(f'SELECT id FROM "{self.schema}".webhooks_event')
        }


@pytest.fixture(scope="session")
def fault_stack() -> Iterator[FaultStack]:
    workdir = Path(tempfile.mkdtemp(prefix="engium-faults-"))
    os.chmod(workdir, 0o755)  # noqa: S103  (the embedded PostgreSQL runs as a user of its own)
    stack = FaultStack(workdir)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def twilio() -> Iterator[CountingTwilio]:
    with CountingTwilio() as server:
        yield server


@pytest.fixture
def receiver_port() -> int:
    return free_port()


def receiver(port: int) -> ScriptedServer:
    return ScriptedServer(port=port)
