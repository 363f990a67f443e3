"""Migrating every tenant's schema quickly: skip the ones already migrated, run the others
in parallel processes, and report each tenant's outcome without stopping at a failure.

django-tenants migrates schemas one by one with the full ``migrate`` command, even when a
schema has nothing to apply: about 0.2 s per tenant, 190 s per 1,000 tenants, for nothing.
Here the migrations every schema lacks are read in a few queries (`pending_schemas`), and
only those schemas are migrated (`migrate_in_parallel`).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import connection, connections
from django.db.migrations.loader import MigrationLoader
from django_tenants.migration_executors.base import run_migrations

from tenants.provisioning import TEMPLATE_LOCK

#: schemas whose recorded migrations are read in one query
_CHUNK = 250


@dataclass(frozen=True)
class Outcome:
    schema_name: str
    ok: bool
    seconds: float
    error: str = ""


def expected_migrations() -> set[tuple[str, str]] | None:
    """Every migration a schema records once migrated; None when squashed migrations make
    that depend on what a schema has applied (then every schema is migrated)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    if loader.replacements:
        return None
    return set(loader.graph.nodes)


def pending_schemas(schema_names: Sequence[str]) -> list[str]:
    """The schemas, in the given order, that lack a migration (or their migrations table)."""
    expected = expected_migrations()
    if expected is None:
        return list(schema_names)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'django_migrations' AND c.relkind = 'r'"
        )
        with_table = {name for (name,) in cursor.fetchall()}
        applied: dict[str, set[tuple[str, str]]] = {name: set() for name in schema_names}
        readable = [name for name in schema_names if name in with_table]
        for start in range(0, len(readable), _CHUNK):
            chunk = readable[start : start + _CHUNK]
            cursor.execute(
                " UNION ALL ".join(
                    f"SELECT %s, app, name FROM {connection.ops.quote_name(name)}.django_migrations"  # noqa: S608  (schema names from the tenants table)
                    for name in chunk
                ),
                chunk,
            )
            for schema_name, app, name in cursor.fetchall():
                applied[schema_name].add((app, name))
    return [name for name in schema_names if not expected <= applied[name]]


@contextmanager
def template_lock() -> Iterator[None]:
    """Hold `TEMPLATE_LOCK` exclusively (no tenant is cloned meanwhile), on a connection of
    its own: migrating closes Django's connection, which would release it."""
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [TEMPLATE_LOCK])
        try:
            yield
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", [TEMPLATE_LOCK])


def migrate_one(args: Sequence[Any], options: dict[str, Any], schema_name: str) -> Outcome:
    """Migrate one schema; a failure is returned, not raised."""
    started = time.monotonic()
    try:
        run_migrations(list(args), options, "engium", schema_name)
    except BaseException as exc:
        connection.close()
        return Outcome(
            schema_name, False, time.monotonic() - started, f"{type(exc).__name__}: {exc}"
        )
    return Outcome(schema_name, True, time.monotonic() - started)


_job: tuple[Sequence[Any], dict[str, Any]] = ((), {})


def _child(schema_name: str) -> Outcome:
    args, options = _job
    return migrate_one(args, options, schema_name)


def migrate_in_parallel(
    schema_names: Sequence[str],
    args: Sequence[Any],
    options: dict[str, Any],
    *,
    processes: int,
    report: Callable[[int, Outcome], None],
) -> list[Outcome]:
    """Migrate the schemas in ``processes`` forked processes; ``report`` hears of each one
    as it ends (its rank in completion order, from 1)."""
    global _job
    outcomes: list[Outcome] = []
    if processes <= 1 or len(schema_names) <= 1:
        for schema_name in schema_names:
            outcomes.append(migrate_one(args, options, schema_name))
            report(len(outcomes), outcomes[-1])
        return outcomes
    _job = (args, options)
    connections.close_all()  # each child opens its own
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for outcome in pool.imap_unordered(_child, schema_names):
            outcomes.append(outcome)
            report(len(outcomes), outcome)
    return outcomes
