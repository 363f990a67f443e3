"""Migration steps for the pattern indexes Django adds beside a text column's own.

On PostgreSQL, Django gives every indexed ``varchar`` column (a primary key, a foreign key)
a second index with ``varchar_pattern_ops``, for ``LIKE 'prefix%'`` queries. Engium's IDs
are only ever compared whole, so on the tables the send writes these indexes cost every
send one more index entry each and serve no query: `drop_pattern_indexes` removes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import migrations


def drop_pattern_indexes(app_label: str, fields: Sequence[tuple[str, str]]) -> Any:
    """A `RunPython` that drops the ``_like`` index of each (model, field) of ``app_label``,
    and makes it again when the migration is reversed."""

    def each(apps: Any, schema_editor: Any, act: Callable[[Any, Any, str], str]) -> None:
        for model_name, field_name in fields:
            model = apps.get_model(app_label, model_name)
            field = model._meta.get_field(field_name)
            name = schema_editor._create_index_name(
                model._meta.db_table, [field.column], suffix="_like"
            )
            schema_editor.execute(act(model, field, name))

    def forwards(apps: Any, schema_editor: Any) -> None:
        each(apps, schema_editor, lambda m, f, name: f"DROP INDEX IF EXISTS {name}")

    def backwards(apps: Any, schema_editor: Any) -> None:
        each(apps, schema_editor, lambda m, f, name: schema_editor._create_like_index_sql(m, f))

    return migrations.RunPython(forwards, backwards, elidable=False)
