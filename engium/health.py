"""Liveness, readiness and the public status page.

`/status` is public and unauthenticated, so it must cost next to nothing: it only reads a
snapshot that beat refreshes every ``ENGIUM_STATUS_REFRESH_SECONDS`` (`refresh_status`,
kept in the cache). A snapshot older than three refreshes counts as unknown, so a stopped
beat shows as degraded rather than as a stale "operational". Anyone sees one word per
component; details (latencies, worker count, queue depths) are for staff only.
`/readyz` checks this process's own database and broker connections, at most once per
``READY_MEMO_SECONDS`` per process.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from engium.celery import app as celery_app
from engium.timestamps import iso_time

QUEUES = ("delivery", "webhooks", "agents", "default")
COMPONENTS = ("database", "broker", "workers")
STATUS_CACHE_KEY = "status:snapshot"
READY_MEMO_SECONDS = 1.0


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up."""
    return JsonResponse({"status": "ok"})


def _check_database() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_broker() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            depth: dict[str, int | None] = {}
            if conn.transport.driver_type == "redis":
                client = conn.channel().client
                depth = {queue: int(client.llen(queue)) for queue in QUEUES}
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {
        "ok": True,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        "queue_depth": depth,
    }


def _check_workers() -> dict[str, Any]:
    try:
        replies = celery_app.control.ping(timeout=0.5) or []
    except Exception as exc:
        return {"ok": False, "count": 0, "error": type(exc).__name__}
    return {"ok": bool(replies), "count": len(replies)}


_ready_lock = threading.Lock()
_ready_memo: tuple[float, dict[str, Any]] | None = None


def readyz(request: HttpRequest) -> JsonResponse:
    """Database and broker reachable: ready to take traffic."""
    global _ready_memo
    with _ready_lock:
        memo = _ready_memo
        if memo is None or time.monotonic() - memo[0] > READY_MEMO_SECONDS:
            memo = (time.monotonic(), {"database": _check_database(), "broker": _check_broker()})
            _ready_memo = memo
    checks = memo[1]
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


@shared_task(name="engium.refresh_status")
def refresh_status() -> dict[str, Any]:
    """Check every component and keep the result for `/status` (beat runs this)."""
    snapshot = {
        "checked_at": iso_time(timezone.now()),
        "checked": time.time(),
        "components": {
            "database": _check_database(),
            "broker": _check_broker(),
            "workers": _check_workers(),
        },
    }
    cache.set(STATUS_CACHE_KEY, snapshot, timeout=None)
    return snapshot


def current_status(*, details: bool) -> dict[str, Any]:
    """The last snapshot, summarised; ``details`` adds what only staff may see."""
    snapshot = cache.get(STATUS_CACHE_KEY)
    stale_after = 3 * settings.ENGIUM_STATUS_REFRESH_SECONDS
    fresh = snapshot is not None and time.time() - snapshot["checked"] <= stale_after
    checks: dict[str, dict[str, Any]] = snapshot["components"] if fresh else {}
    components: dict[str, Any] = {"api": {"status": "operational"} if details else "operational"}
    for name in COMPONENTS:
        check = checks.get(name)
        state = "unknown" if check is None else "operational" if check["ok"] else "degraded"
        components[name] = {"status": state, **(check or {})} if details else state
    states = [c["status"] if details else c for c in components.values()]
    return {
        "status": "operational" if all(s == "operational" for s in states) else "degraded",
        "components": components,
        "checked_at": snapshot["checked_at"] if snapshot else None,
        "version": settings.SPECTACULAR_SETTINGS["VERSION"],
    }


def status_page(request: HttpRequest) -> HttpResponse:
    """The public status of every part, as JSON (``?format=json`` or Accept) or a page."""
    user = getattr(request, "user", None)
    body = current_status(details=bool(user and user.is_staff))
    wants_json = request.GET.get("format") == "json" or "application/json" in request.headers.get(
        "Accept", ""
    )
    if wants_json:
        return JsonResponse(body)
    return render(request, "status.html", body)
