"""Gunicorn settings for Engium's web processes (`gunicorn -c deploy/gunicorn.conf.py engium.wsgi`).

Production puts a buffering reverse proxy in front (`deploy/nginx.conf`): it holds slow
clients (headers and bodies trickled in byte by byte) and hands gunicorn only complete
requests. Gunicorn's own workers cannot: a thread of a `gthread` worker, like a whole
`sync` worker, is tied up by a client that sends its headers slowly. See
docs/operations.md#production-server.

Every value can be overridden on the command line or with ``GUNICORN_CMD_ARGS``.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any
from urllib.parse import quote

from gunicorn.glogging import Logger

from engium.logging import redact

wsgi_app = "engium.wsgi"
bind = [os.environ.get("ENGIUM_BIND", "127.0.0.1:8000")]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads let one worker keep serving while another request waits on the database.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 30
graceful_timeout = 30
keepalive = 5
# The longest request line gunicorn takes (a long list filter); longer ones get its plain 414.
limit_request_line = 8190
# Only the proxy on this machine may say which scheme and client a request came from.
forwarded_allow_ips = "127.0.0.1,::1"
# Method and path only: query strings may hold phone numbers or a key put in a URL by mistake.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'


class SafeAccessLogger(Logger):
    """Access log lines that a client cannot forge or fill with secrets.

    The path is written decoded (``%0a`` becomes a line break): it is quoted again, so one
    request is one line, and credentials in it are redacted like in every other log.
    """

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        path = quote(atoms.get("U") or "", safe="/:@!$&'()*+,;=-._~")
        atoms["U"] = redact(path)
        return atoms


logger_class = SafeAccessLogger


def _is_loopback(address: str) -> bool:
    if address.startswith("unix:"):
        return True
    host = address.rsplit(":", 1)[0].strip("[]") or "0.0.0.0"  # noqa: S104
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def on_starting(server: Any) -> None:
    """Fail closed: never serve the network with the development secret key."""
    exposed = [address for address in server.cfg.bind if not _is_loopback(address)]
    if exposed and not os.environ.get("SECRET_KEY"):
        raise SystemExit(
            f"Refusing to listen on {', '.join(exposed)} without SECRET_KEY: set SECRET_KEY "
            "(and ENGIUM_ENCRYPTION_KEY) or bind to 127.0.0.1."
        )
