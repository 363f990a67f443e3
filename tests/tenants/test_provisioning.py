"""Tenant schemas cloned from the migrated template, and `migrate_schemas` over many tenants.

A clone must be indistinguishable from a migrated schema: same tables and columns, the same
constraints and indexes under the same names (later migrations drop them by name), the same
recorded migrations and rows. The migration tests commit for real (tenant schemas are
migrated in other processes), and remove what they made.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader

from tenants.migrating import pending_schemas, template_lock
from tenants.models import Tenant
from tenants.provisioning import clone_template, template_schema
from tenants.services import create_tenant

# What a schema is made of, without the schema's name: comparable between two schemas.
_SHAPE_SQL = """
SELECT 'column', c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || ' identity=' || a.attidentity::text
       || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = %(ns)s::regnamespace AND c.relkind = 'r' AND a.attnum > 0
  AND NOT a.attisdropped
UNION ALL
SELECT 'constraint', cl.relname || ' ' || con.conname || ' ' || pg_get_constraintdef(con.oid)
FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid
WHERE cl.relnamespace = %(ns)s::regnamespace
UNION ALL
SELECT 'index', replace(pg_get_indexdef(i.indexrelid), quote_ident(%(name)s) || '.', '')
FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
WHERE t.relnamespace = %(ns)s::regnamespace
UNION ALL
SELECT 'sequence', c.relname FROM pg_class c
WHERE c.relnamespace = %(ns)s::regnamespace AND c.relkind = 'S'
ORDER BY 1, 2
"""


def shape(schema_name: str) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SET LOCAL search_path TO public"
            if connection.in_atomic_block
            else "SET search_path TO public"
        )
        cursor.execute(_SHAPE_SQL, {"ns": f'"{schema_name}"', "name": schema_name})
        rows = [
            (kind, text.replace(f'"{schema_name}".', "").replace(f"{schema_name}.", ""))
            for kind, text in cursor.fetchall()
        ]
        # A partial index's predicate, replayed from its text, is parsed back with its casts
        # in other places (``ARRAY['a'::varchar::text]`` for ``ARRAY['a'::varchar]::text[]``):
        # the same predicate, compared without casts and parentheses.
        rows = [(kind, _without_casts(text) if kind == "index" else text) for kind, text in rows]
        cursor.execute(
            f'SELECT app, name FROM "{schema_name}".django_migrations ORDER BY app, name'
        )
        rows += [("migration", f"{app}.{name}") for app, name in cursor.fetchall()]
        cursor.execute(
            f'SELECT app_label, model FROM "{schema_name}".django_content_type ORDER BY 1, 2'
        )
        rows += [("content type", f"{app}.{model}") for app, model in cursor.fetchall()]
    connection.set_schema_to_public()
    return rows


def _without_casts(definition: str) -> str:
    head, where, predicate = definition.partition(" WHERE ")
    return head + where + re.sub(r"::[a-z ]+(\[\])?|[()]", "", predicate)


def migrated_schema(schema_name: str) -> None:
    """Create ``schema_name`` the slow way: django-tenants' migrations, one by one."""
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema_name}"')
    call_command("migrate_schemas", schema_name=schema_name, interactive=False, verbosity=0)
    connection.set_schema_to_public()


@pytest.fixture
def committed(django_db_blocker: Any) -> Iterator[list[str]]:
    """For tests whose work is committed: schemas to drop, and tenants' rows, afterwards."""
    made: list[str] = []
    with django_db_blocker.unblock():
        yield made
        connection.set_schema_to_public()
        for tenant in Tenant.objects.filter(schema_name__in=made):
            tenant.delete(force_drop=True)
        with connection.cursor() as cursor:
            for schema_name in made:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')


def test_the_test_database_has_a_migrated_template(db: None) -> None:
    assert pending_schemas([template_schema()]) == []


def test_a_cloned_schema_is_the_migrated_schema(committed: list[str]) -> None:
    committed += ["t_slow_reference"]
    migrated_schema("t_slow_reference")
    tenant, _ = create_tenant(name="Cloned")
    committed.append(tenant.schema_name)

    cloned, reference = shape(tenant.schema_name), shape("t_slow_reference")

    assert cloned == reference
    kinds = {kind for kind, _ in cloned}
    assert kinds == {"column", "constraint", "index", "sequence", "migration", "content type"}


def test_a_clone_runs_no_migration(db: None) -> None:
    tenant, _ = create_tenant(name="Fast")
    with connection.cursor() as cursor:
        # the recorded migrations are the template's own rows, times included
        cursor.execute(
            f'SELECT app, name, applied FROM "{tenant.schema_name}".django_migrations '
            f'EXCEPT SELECT app, name, applied FROM "{template_schema()}".django_migrations'
        )
        assert cursor.fetchall() == []
        # and its sequences go on from the copied rows
        cursor.execute(
            f'INSERT INTO "{tenant.schema_name}".django_content_type (app_label, model) '
            "VALUES ('probe', 'probe') RETURNING id"
        )
        (new_id,) = cursor.fetchone()
        cursor.execute(f'SELECT max(id) FROM "{template_schema()}".django_content_type')
        assert new_id == cursor.fetchone()[0] + 1


def test_a_cloned_tenant_works(api: Any, db: None) -> None:
    from tests.conftest import make_tenant

    tenant = make_tenant("Works")
    answer = api.send(tenant, recipient="+15550102999", channel="whatsapp", message={"text": "hi"})
    assert answer.status_code == 201, answer.content


def test_without_a_template_the_schema_is_migrated(db: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER SCHEMA "{template_schema()}" RENAME TO template_away')
    assert clone_template("t_never") is False
    tenant, _ = create_tenant(name="Migrated")
    assert pending_schemas([tenant.schema_name]) == []


def test_a_template_holding_what_cannot_be_cloned_is_not_cloned(
    db: None, caplog: pytest.LogCaptureFixture
) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE VIEW "{template_schema()}".probe AS SELECT 1 AS one')
    assert clone_template("t_never") is False
    assert "does not copy" in caplog.text
    tenant, _ = create_tenant(name="Migrated instead")
    assert pending_schemas([tenant.schema_name]) == []


def test_no_tenant_is_cloned_while_the_template_is_being_migrated(
    committed: list[str],
) -> None:
    order: list[str] = []
    created: list[Tenant] = []

    def create() -> None:
        tenant, _ = create_tenant(name="Waits")
        order.append("tenant committed")
        created.append(tenant)

    with template_lock():
        creator = threading.Thread(target=create)
        creator.start()
        creator.join(timeout=1.0)
        assert creator.is_alive()  # waiting for the lock, not cloning
        order.append("template migrated")
    creator.join(timeout=30)
    committed += [t.schema_name for t in created]
    assert order == ["template migrated", "tenant committed"]


def _forget_migration(schema_name: str, app: str, name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f'DELETE FROM "{schema_name}".django_migrations WHERE app = %s AND name = %s',
            [app, name],
        )


@pytest.mark.parametrize("processes", [1, 2])
def test_migrate_schemas_migrates_only_what_needs_it_and_reports_failures(
    committed: list[str], processes: int
) -> None:
    tenants = [create_tenant(name=f"Migrating {i}")[0] for i in range(4)]
    committed += [t.schema_name for t in tenants]
    behind, broken = tenants[1].schema_name, tenants[2].schema_name
    # `behind` has its last conversations migration really unapplied: the run applies it
    names = sorted(
        name for app, name in MigrationLoader(None).disk_migrations if app == "conversations"
    )
    call_command(
        "migrate_schemas",
        "conversations",
        names[-2],
        schema_name=behind,
        interactive=False,
        verbosity=0,
    )
    connection.set_schema_to_public()
    # `broken` claims to lack a migration whose table it has: that migration fails
    _forget_migration(broken, "webhooks", "0002_endpoints_deliveries_attempts")
    assert pending_schemas([t.schema_name for t in tenants]) == [behind, broken]

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match=f"1 tenants failed to migrate: {broken}"):
        call_command(
            "migrate_schemas", processes=processes, interactive=False, stdout=out, stderr=err
        )
    connection.set_schema_to_public()

    assert f"{len(Tenant.objects.exclude(schema_name='public'))} tenants:" in out.getvalue()
    assert "2 to migrate" in out.getvalue()
    assert f"{behind} ok" in out.getvalue()
    assert f"{broken} FAILED" in err.getvalue()
    assert "Migrated 1 tenants, 1 failed" in out.getvalue()
    assert pending_schemas([t.schema_name for t in tenants]) == [broken]
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT 1 FROM "{behind}".django_migrations WHERE app = %s AND name = %s',
            ["conversations", names[-1]],
        )
        assert cursor.fetchone() is not None


def test_a_whole_run_with_nothing_to_do_migrates_nothing(committed: list[str]) -> None:
    tenant, _ = create_tenant(name="Up to date")
    committed.append(tenant.schema_name)
    out = io.StringIO()
    call_command("migrate_schemas", interactive=False, stdout=out)
    connection.set_schema_to_public()
    assert "0 to migrate" in out.getvalue()
    assert "Migrated 0 tenants, 0 failed" in out.getvalue()


def test_transaction_rollback_leaves_no_schema(db: None) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        assert clone_template("t_rolled_back")
        raise RuntimeError("the tenant's transaction fails")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = 't_rolled_back'")
        assert cursor.fetchone() is None
