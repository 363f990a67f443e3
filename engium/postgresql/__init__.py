"""Engium's database backend: django-tenants' PostgreSQL backend, cheaper per request.

``ENGINE = "engium.postgresql"`` (`engium.settings`); see `engium.postgresql.base`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from django.db import connection
from django.db.models import Field, Model

if TYPE_CHECKING:
    from engium.postgresql.base import DatabaseWrapper


def prepared_cursor() -> Any:
    """A cursor of the default connection for a statement run on every request (the send's):
    its values are bound on the server, and it is prepared once per connection.

    It is the connection's one kept cursor (`engium.postgresql.base`): run one statement and
    fetch its rows before the next use; never hold it across another `prepared_cursor`."""
    return cast("DatabaseWrapper", connection).prepared_cursor()


def update_rows(objects: Sequence[Model], fields: Sequence[str]) -> int:
    """Save ``fields`` of ``objects`` (of one model, each with its own values) in one
    ``UPDATE … FROM unnest(…)``: Django's ``bulk_update`` writes a ``CASE`` per field and row,
    which costs far more to build than the rows cost to write. Returns the rows updated."""
    if not objects or not fields:
        return 0
    meta = objects[0]._meta
    key = meta.pk
    assert key is not None
    columns: list[Field[Any, Any]] = []
    for name in fields:
        field = meta.get_field(name)
        assert isinstance(field, Field) and field.concrete and not field.primary_key
        columns.append(field)
    params: list[list[Any]] = [[key.get_db_prep_value(obj.pk, connection) for obj in objects]]
    selects = [f"unnest(%s::{key.db_type(connection)}[]) AS key"]
    for n, field in enumerate(columns):
        params.append(
            [field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objects]
        )
        selects.append(f"unnest(%s::{field.db_type(connection)}[]) AS c{n}")
    quote = connection.ops.quote_name
    assignments = ", ".join(
        f"{quote(str(field.column))} = v.c{n}" for n, field in enumerate(columns)
    )
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608
        f"FROM (SELECT {', '.join(selects)}) AS v WHERE t.{quote(key.column)} = v.key"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)
