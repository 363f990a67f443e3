"""Fast tenant schemas: a new tenant's schema is cloned from a migrated template schema.

Running a tenant's ~30 migrations costs about a second of work; replaying the DDL of a
schema that is already migrated costs a few tens of milliseconds. So `migrate_schemas`
keeps one schema, ``ENGIUM_TENANT_TEMPLATE_SCHEMA``, migrated like a tenant's, and
`clone_template` copies it into a new tenant's schema inside the tenant's own transaction:

* tables (columns, defaults, identity columns with sequences of their own, storage,
  comments) with ``CREATE TABLE … (LIKE template.table …)``;
* every constraint and index by its own name (``pg_get_constraintdef``,
  ``pg_get_indexdef``), so that later migrations that drop or rename one by name work on
  clones exactly as on migrated schemas; foreign keys last;
* every row (the recorded migrations, content types), with identity sequences moved past
  them.

Only what migrations on this project create is cloned: a template holding anything else
(a view, a function, a trigger, a standalone sequence, a type) is not cloned, and the
tenant is migrated the slow way instead, with a warning.

**Consistency with migrations.** `migrate_schemas` migrates the template holding
`TEMPLATE_LOCK` exclusively, and a clone holds it shared for its transaction. A tenant
cloned before the template's migration committed exists before `migrate_schemas` lists the
tenants to migrate, so it is migrated with them; a tenant cloned after it gets the migrated
template. No tenant is left behind, or half migrated (DDL is transactional).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.db.backends.utils import CursorWrapper

logger = logging.getLogger(__name__)

#: The advisory lock between migrating the template (exclusive) and cloning it (shared).
TEMPLATE_LOCK = 0x656E_6775_0001  # "engu" 1

#: Objects of a template schema that `clone_template` does not copy (their count).
_UNSUPPORTED_SQL = """
SELECT
  (SELECT count(*) FROM pg_class c
    WHERE c.relnamespace = %(ns)s::regnamespace
      AND (c.relkind IN ('v', 'm', 'f', 'p', 'c')
           OR (c.relkind = 'S' AND NOT EXISTS (
                 SELECT 1 FROM pg_depend d
                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                   AND d.deptype IN ('a', 'i')))))
  + (SELECT count(*) FROM pg_proc p WHERE p.pronamespace = %(ns)s::regnamespace)
  + (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      WHERE c.relnamespace = %(ns)s::regnamespace AND NOT t.tgisinternal)
  + (SELECT count(*) FROM pg_type t
      WHERE t.typnamespace = %(ns)s::regnamespace AND t.typtype IN ('e', 'd', 'r', 'm')
         OR (t.typnamespace = %(ns)s::regnamespace AND t.typtype = 'c' AND NOT EXISTS (
               SELECT 1 FROM pg_class c WHERE c.oid = t.typrelid AND c.relkind = 'r')))
  + (SELECT count(*) FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
      WHERE c.relnamespace = %(ns)s::regnamespace)
"""

_TABLES_SQL = """
SELECT c.relname FROM pg_class c
WHERE c.relnamespace = %(ns)s::regnamespace AND c.relkind = 'r'
ORDER BY c.relname
"""

# Constraints by their names; foreign keys after every table has its keys.
_CONSTRAINTS_SQL = """
SELECT con.contype = 'f', format('ALTER TABLE %%I ADD CONSTRAINT %%I %%s', cl.relname,
                                  con.conname, pg_get_constraintdef(con.oid))
FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid
WHERE cl.relnamespace = %(ns)s::regnamespace AND con.contype IN ('p', 'u', 'c', 'x', 'f')
ORDER BY con.contype = 'f', cl.relname, con.conname
"""

# Indexes that no constraint owns (constraints bring their own); `pg_get_indexdef` always
# names the table with its schema, which is taken off.
_INDEXES_SQL = """
SELECT regexp_replace(pg_get_indexdef(i.indexrelid),
                      ' ON (ONLY )?' || quote_ident(%(name)s) || '\\.', ' ON \\1')
FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
WHERE t.relnamespace = %(ns)s::regnamespace
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con
                  WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                    AND con.contype IN ('p', 'u', 'x'))
ORDER BY 1
"""

_IDENTITY_SQL = """
SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = %(ns)s::regnamespace AND c.relkind = 'r'
  AND a.attidentity <> '' AND NOT a.attisdropped
ORDER BY 1, 2
"""

_COPY_ROWS = "INSERT INTO {table} OVERRIDING SYSTEM VALUE SELECT * FROM {source}.{table}"
_MOVE_SEQUENCE = (
    "SELECT setval(pg_get_serial_sequence({table_literal}, {column_literal}), "
    "coalesce(max({column}), 0) + 1, false) FROM {table}"
)

_LIKE = (
    "INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED INCLUDING STORAGE "
    "INCLUDING COMMENTS INCLUDING COMPRESSION"
)


def template_schema() -> str:
    return str(settings.ENGIUM_TENANT_TEMPLATE_SCHEMA)


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def template_exists(cursor: CursorWrapper) -> bool:
    cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [template_schema()])
    return cursor.fetchone() is not None


def clone_template(schema_name: str) -> bool:
    """Create ``schema_name`` as a copy of the migrated template schema, in the current
    transaction. False (nothing done) when there is no template or it cannot be cloned."""
    template = template_schema()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [TEMPLATE_LOCK])
        if not template_exists(cursor):
            return False
        names = {"ns": quote(template), "name": template}
        cursor.execute(_UNSUPPORTED_SQL, names)
        row = cursor.fetchone()
        if row and row[0]:
            logger.warning(
                "the tenant template holds objects the cloner does not copy; migrating instead",
                extra={"template": template, "objects": row[0]},
            )
            return False
        cursor.execute("SELECT current_setting('search_path')")
        (search_path,) = cursor.fetchone() or ("public",)
        # With the template first on the path, definitions name its tables unqualified,
        # so that replayed with the new schema first, they name the new schema's tables.
        cursor.execute(f"SET LOCAL search_path TO {quote(template)}, public")
        cursor.execute(_TABLES_SQL, names)
        tables = [name for (name,) in cursor.fetchall()]
        cursor.execute(_CONSTRAINTS_SQL, names)
        constraints = cursor.fetchall()
        cursor.execute(_INDEXES_SQL, names)
        indexes = [sql for (sql,) in cursor.fetchall()]
        cursor.execute(_IDENTITY_SQL, names)
        identities = cursor.fetchall()
        source = quote(template)
        statements = [
            f"CREATE SCHEMA {quote(schema_name)}",
            f"SET LOCAL search_path TO {quote(schema_name)}, public",
            *(f"CREATE TABLE {quote(t)} (LIKE {source}.{quote(t)} {_LIKE})" for t in tables),
            *(sql for foreign, sql in constraints if not foreign),
            *indexes,
            # (every name below comes from the catalog, quoted)
            *(_COPY_ROWS.format(table=quote(t), source=source) for t in tables),
            *(
                _MOVE_SEQUENCE.format(
                    table=quote(t),
                    column=quote(a),
                    table_literal=_literal(quote(t)),
                    column_literal=_literal(a),
                )
                for t, a in identities
            ),
            *(sql for foreign, sql in constraints if foreign),
            f"SET LOCAL search_path TO {search_path}",
        ]
        cursor.execute(";\n".join(statements))
    return True


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
