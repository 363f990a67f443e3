"""Engium's database backend: django-tenants' PostgreSQL backend, cheaper per request.

``ENGINE = "engium.postgresql"`` (`engium.settings`); see `engium.postgresql.base`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.db import connection

if TYPE_CHECKING:
    from engium.postgresql.base import DatabaseWrapper


def prepared_cursor() -> Any:
    """A cursor of the default connection for a statement run on every request (the send's):
    its values are bound on the server, and it is prepared once per connection."""
    return cast("DatabaseWrapper", connection).prepared_cursor()
