"""`make run` and `make test`: the two commands a new user needs.

``python -m devtools.launcher run``  services (embedded where none are configured),
migrations, a demo tenant, then web (gunicorn), worker and beat until Ctrl-C.
``python -m devtools.launcher test [pytest args]``  services (configured, local or
embedded), then pytest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from devtools.embedded import (
    BASE_DIR,
    STATE_DIR,
    Services,
    ensure_services,
    stop_embedded,
)
from engium.broker import broker_url_for

VENV_BIN = Path(sys.executable).parent


def _env(services: Services, *, settings_module: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(services.environ())
    # Always the command's own: importing `engium` (its Celery app) defaults the variable
    # to the product's settings in this process, which must not leak into `make test`.
    env["DJANGO_SETTINGS_MODULE"] = settings_module
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BASE_DIR), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        env=env,
        cwd=BASE_DIR,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return result.stdout


def _wait_for(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 (our own localhost)
                if answer.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def _read_dotenv() -> None:
    """Settings from `.env` count for the launcher too (a DATABASE_URL there wins over embedded)."""
    import environ

    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


#: The workers of a deployment split by queue (docs/deploy.md): delivery to providers,
#: webhooks, and the rest (agents' replies, periodic sweeps).
SPLIT_WORKERS = {
    "worker-delivery": "delivery",
    "worker-webhooks": "webhooks",
    "worker-agents": "agents,default",
}


def process_commands(
    *, port: int | str, web_workers: int | str, beat_schedule: Path, split_workers: bool = False
) -> dict[str, list[str]]:
    """How the product's processes start: web (gunicorn), a worker on every queue (or, with
    ``split_workers``, one worker per group of `SPLIT_WORKERS`), beat.

    `make run` and the end-to-end tests start the same commands.
    """
    commands = _process_commands(port=port, web_workers=web_workers, beat_schedule=beat_schedule)
    if split_workers:
        worker = commands.pop("worker")
        queues = worker.index("-Q") + 1
        for name, names in SPLIT_WORKERS.items():
            split = [*worker]
            split[queues] = names
            commands[name] = [*split, "--hostname", f"{name}@%h"]
    return commands


def _process_commands(
    *, port: int | str, web_workers: int | str, beat_schedule: Path
) -> dict[str, list[str]]:
    return {
        "web": [
            str(VENV_BIN / "gunicorn"),
            "--config",
            str(BASE_DIR / "deploy" / "gunicorn.conf.py"),
            "engium.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(web_workers),
        ],
        "worker": [
            str(VENV_BIN / "celery"),
            "-A",
            "engium",
            "worker",
            "--loglevel",
            "INFO",
            "-Q",
            "delivery,webhooks,agents,default",
            "--concurrency",
            "2",
        ],
        "beat": [
            str(VENV_BIN / "celery"),
            "-A",
            "engium",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(beat_schedule),
        ],
    }


def _local_secrets() -> dict[str, str]:
    """This checkout's own SECRET_KEY and ENGIUM_ENCRYPTION_KEY, made on the first `make run`.

    Kept in `.engium/secrets.env` (readable by the owner only) so that what was encrypted
    on one run can be read on the next; the settings refuse to run without a secret key
    (docs/operations.md#configuration).
    """
    import secrets

    from cryptography.fernet import Fernet

    path = STATE_DIR / "secrets.env"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(
            f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
            f"ENGIUM_ENCRYPTION_KEY={Fernet.generate_key().decode()}\n"
        )
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name: value for name, value in pairs}


def run() -> int:
    _read_dotenv()
    STATE_DIR.mkdir(exist_ok=True)
    services = ensure_services(local_first=False)
    keys = _local_secrets()
    # So that `manage.py …` in another terminal finds the same services and keys.
    services_env = STATE_DIR / "services.env"
    services_env.write_text(
        "".join(f"{name}={value}\n" for name, value in {**services.environ(), **keys}.items())
    )
    services_env.chmod(0o600)
    port = os.environ.get("ENGIUM_PORT", "8000")
    env = _env(
        services,
        settings_module="engium.settings",
        ENGIUM_PUBLIC_URL=os.environ.get("ENGIUM_PUBLIC_URL", f"http://localhost:{port}"),
        **{name: os.environ.get(name, value) for name, value in keys.items()},
    )
    print("Migrating the database…", flush=True)
    _manage(env, "migrate_schemas", "--shared", "-v", "0")
    _manage(env, "migrate_schemas", "-v", "0")
    demo = json.loads(_manage(env, "seed_demo", "--json"))

    commands = process_commands(
        port=port,
        web_workers=os.environ.get("WEB_CONCURRENCY", "2"),
        beat_schedule=STATE_DIR / "celerybeat-schedule",
    )
    commands["web"] += ["--access-logfile", "-"]
    processes = [subprocess.Popen(args, env=env, cwd=BASE_DIR) for args in commands.values()]

    def shutdown(*_: object) -> None:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        stop_embedded(services)
        sys.exit(0)

    signal.signal(signal.SIGINT, shutdown)
    signal.signal(signal.SIGTERM, shutdown)

    if not _wait_for(f"http://127.0.0.1:{port}/healthz", 30):
        print("The web server did not start; see the log above.", file=sys.stderr)
        shutdown()
    body = json.dumps(
        {
            "recipient": "+15550102999",
            "channel": "whatsapp",
            "message": {"text": "Hello from Engium! How can we help you today?"},
        }
    )
    print(
        f"""
Engium is running on http://localhost:{port}  (API docs: http://localhost:{port}/api/docs/)
Developer portal: http://localhost:{port}/docs/  (Python SDK: pip install ./clients/python)
Demo tenant: {demo["tenant_id"]}   API key: {demo["api_key"]}
Console: http://localhost:{port}/console/
  email {demo["console_email"]}   password {demo["console_password"]}

Send your first message:

curl -X POST http://localhost:{port}/api/v1/conversations/send \\
  -H "Authorization: Bearer {demo["api_key"]}" \\
  -H "X-Tenant-ID: {demo["tenant_id"]}" \\
  -H "Content-Type: application/json" \\
  -d '{body}'

Press Ctrl-C to stop.
""",
        flush=True,
    )
    while True:
        for process in processes:
            if process.poll() is not None:
                print(f"A process exited ({process.args!s}); stopping.", file=sys.stderr)
                shutdown()
        time.sleep(1)


def test(args: list[str]) -> int:
    _read_dotenv()
    services = ensure_services(local_first=True)
    redis_url = services.redis_url
    if not services.embedded_redis and redis_url == "redis://127.0.0.1:6379/0":
        redis_url = "redis://127.0.0.1:6379/15"  # keep tests off a developer's db 0
    env = _env(
        services,
        settings_module="engium.settings.test",
        REDIS_URL=redis_url,
        CELERY_BROKER_URL=broker_url_for(redis_url),
        ENGIUM_ENV="test",
    )
    where = []
    where.append(
        "embedded PostgreSQL"
        if services.embedded_postgres
        else "PostgreSQL " + services.database_url
    )
    where.append("embedded Redis" if services.embedded_redis else "Redis " + redis_url)
    print("Testing against " + " and ".join(where), flush=True)
    try:
        return subprocess.call([sys.executable, "-m", "pytest", *args], env=env, cwd=BASE_DIR)
    finally:
        # Leave the machine as found: stop what this run started (a `make run` keeps its own).
        stop_embedded(services, only_started=True)


def main() -> int:
    command, *rest = sys.argv[1:] or ["run"]
    if command == "run":
        return run()
    if command == "test":
        return test(rest)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
