"""Which signing secrets an endpoint signs with: the current one, and during the 24 hours
after a rotation, the previous one too (receivers may still hold it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from webhooks.models import Endpoint
from webhooks.signing import new_secret

#: How long a rotated-out secret keeps signing.
PREVIOUS_SECRET_VALIDITY = timedelta(hours=24)


def fresh_secrets() -> dict[str, str | None]:
    return {"current": new_secret(), "previous": None, "previous_until": None}


def secrets_in_use(endpoint: Endpoint, *, now: datetime | None = None) -> list[str]:
    held = endpoint.secrets
    in_use = [held["current"]]
    until = held.get("previous_until")
    if held.get("previous") and until and datetime.fromisoformat(until) > (now or timezone.now()):
        in_use.append(held["previous"])
    return in_use


def rotated(endpoint: Endpoint, *, now: datetime | None = None) -> dict[str, str | None]:
    now = now or timezone.now()
    return {
        "current": new_secret(),
        "previous": endpoint.secrets["current"],
        "previous_until": (now + PREVIOUS_SECRET_VALIDITY).isoformat(),
    }
