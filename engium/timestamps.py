"""How times are written for the outside world: API answers and event payloads alike."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_time(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``; None stays None."""
    global _last
    if not value:
        return None
    # A send writes one time over and over (its conversation's and message's times, in the
    # answer, the event and the stored answer): the last one in UTC is kept (in UTC, equal
    # times are written alike; elsewhere, `fold` or the zone may tell them apart).
    last = _last
    if last is not None and value.tzinfo is UTC and last[0] == value:
        return last[1]
    written = value.isoformat().replace("+00:00", "Z")
    if value.tzinfo is UTC:
        _last = (value, written)
    return written


_last: tuple[datetime, str] | None = None


def iso_time_sql(expression: str) -> str:
    """SQL writing the ``timestamptz`` ``expression`` as `iso_time` writes it in Python.

    Microseconds are written when not zero (as ``datetime.isoformat`` does), always as six
    digits; the zone is UTC, written ``Z``.
    """
    return (
        f"replace(to_char({expression} AT TIME ZONE 'UTC', "
        """'YYYY-MM-DD"T"HH24:MI:SS.US'), '.000000', '') || 'Z'"""
    )
