"""Times are written one way, whether Python or the database writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection

from engium.timestamps import iso_time, iso_time_sql

pytestmark = pytest.mark.django_db

TIMES = [
    datetime(2026, 11, 29, 16, 45, 11, 123456, tzinfo=UTC),
    datetime(2026, 11, 29, 16, 45, 11, 0, tzinfo=UTC),  # isoformat leaves out the fraction
    datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC),  # trailing zeros are kept
    datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
]


@pytest.mark.parametrize("value", TIMES, ids=[t.isoformat() for t in TIMES])
def test_the_database_writes_a_time_as_iso_time_does(value: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {iso_time_sql('%s::timestamptz')}", [value])
        [(written,)] = cursor.fetchall()
    assert written == iso_time(value.astimezone(UTC))


def test_the_last_time_written_is_kept_but_never_for_another_zone() -> None:
    utc = datetime(2026, 11, 30, 12, 0, 0, 5, tzinfo=UTC)
    same_instant = utc.astimezone(timezone(timedelta(hours=-5)))
    assert same_instant == utc  # equal as instants, written differently

    assert iso_time(utc) == "2026-11-30T12:00:00.000005Z"
    assert iso_time(utc) == "2026-11-30T12:00:00.000005Z"
    assert iso_time(same_instant) == "2026-11-30T07:00:00.000005-05:00"
    assert iso_time(utc + timedelta(microseconds=1)) == "2026-11-30T12:00:00.000006Z"
    assert iso_time(None) is None


def test_only_utc_times_are_kept_so_a_fold_or_a_zone_is_written_as_it_is() -> None:
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    first = datetime(2024, 10, 27, 2, 30, tzinfo=berlin)  # the clocks go back: 02:30 twice
    assert iso_time(first) == "2024-10-27T02:30:00+02:00"
    assert iso_time(first.replace(fold=1)) == "2024-10-27T02:30:00+01:00"
    assert iso_time(datetime.min) == datetime.min.isoformat()
