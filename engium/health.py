"""Liveness, readiness and the public status page."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from engium.celery import app as celery_app

QUEUES = ("delivery", "webhooks", "agents", "default")


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


def readyz(request: HttpRequest) -> JsonResponse:
    """Database and broker reachable: ready to take traffic."""
    checks = {"database": _check_database(), "broker": _check_broker()}
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


def status_page(request: HttpRequest) -> HttpResponse:
    """The public status of every part, as JSON (``?format=json`` or Accept) or a page."""
    checks = {
        "api": {"ok": True},
        "database": _check_database(),
        "broker": _check_broker(),
        "workers": _check_workers(),
    }
    overall = "operational" if all(c["ok"] for c in checks.values()) else "degraded"
    body = {
        "status": overall,
        "components": checks,
        "version": settings.SPECTACULAR_SETTINGS["VERSION"],
    }
    wants_json = request.GET.get("format") == "json" or "application/json" in request.headers.get(
        "Accept", ""
    )
    if wants_json:
        return JsonResponse(body)
    return render(request, "status.html", body)
