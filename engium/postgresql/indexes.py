"""Migration steps that drop an index the send writes and no query needs, without a long lock.

On PostgreSQL, Django gives every indexed ``varchar`` column (a primary key, a foreign key)
a second index with ``varchar_pattern_ops``, for ``LIKE 'prefix%'`` queries (``_like``).
Engium's IDs are only ever compared whole, so on the tables the send writes these indexes
cost every send one more index entry each and serve no query.

`drop_indexes` drops them with ``DROP INDEX CONCURRENTLY`` where the migration runs outside
a transaction (``atomic = False``), so that sends to the tenant go on while it waits for
older transactions (docs/deploy.md: migrations take no long lock); inside one (a schema
made in a test's transaction) it drops them plainly. Reversed, it builds them again, also
concurrently where it can.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import migrations

#: What an index of one column is: Django's index of a foreign key (or ``db_index``), or
#: its ``varchar_pattern_ops`` copy.
PLAIN, PATTERN = "", "_like"


def drop_indexes(app_label: str, indexes: Sequence[tuple[str, str, str]]) -> Any:
    """A `RunPython` dropping, for each (model, field, ``PLAIN`` or ``PATTERN``) of
    ``app_label``, the index Django made on that field's column; reversible."""

    def each(apps: Any, schema_editor: Any, forwards: bool) -> None:
        quote = schema_editor.quote_name
        concurrently = "" if schema_editor.connection.in_atomic_block else " CONCURRENTLY"
        for model_name, field_name, kind in indexes:
            model = apps.get_model(app_label, model_name)
            table, column = model._meta.db_table, model._meta.get_field(field_name).column
            name = quote(schema_editor._create_index_name(table, [column], suffix=kind))
            if forwards:
                schema_editor.execute(f"DROP INDEX{concurrently} IF EXISTS {name}")
            else:
                opclass = " varchar_pattern_ops" if kind == PATTERN else ""
                schema_editor.execute(
                    f"CREATE INDEX{concurrently} IF NOT EXISTS {name} "
                    f"ON {quote(table)} ({quote(column)}{opclass})"
                )

    return migrations.RunPython(
        lambda apps, schema_editor: each(apps, schema_editor, True),
        lambda apps, schema_editor: each(apps, schema_editor, False),
        elidable=False,
    )
