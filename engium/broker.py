"""The Celery broker URL for a Redis URL."""

from __future__ import annotations


def broker_url_for(redis_url: str) -> str:
    """Celery names the unix-socket transport `redis+socket://` (and takes no ?db=)."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://").split("?")[0]
    return redis_url
