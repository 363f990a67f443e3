"""How times are written for the outside world: API answers and event payloads alike."""

from __future__ import annotations

from datetime import datetime


def iso_time(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``; None stays None."""
    return value.isoformat().replace("+00:00", "Z") if value else None
