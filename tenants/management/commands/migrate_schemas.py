"""``migrate_schemas`` (and ``migrate``), fast over many tenants (docs/operations.md#migrations).

A whole run (no schema, app or migration named, no ``--fake``/``--plan``/``--check``/
``--prune``) does, in order:

1. the public schema, as django-tenants does;
2. the tenant template schema (`tenants.provisioning`), created if missing, holding the
   template lock, so that no tenant is cloned from a half-migrated template;
3. every tenant schema that lacks a migration, in ``--processes`` parallel processes, with
   one progress line per tenant; tenants already migrated are skipped after one query per
   250 of them, and a failed tenant is reported and does not stop the others (the command
   fails at the end, naming them).

Anything else is django-tenants' own command.
"""

from __future__ import annotations

import os
import time
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import connection
from django_tenants.management.commands.migrate_schemas import MigrateSchemasCommand
from django_tenants.utils import get_public_schema_name, schema_exists

from tenants.migrating import (
    Outcome,
    migrate_in_parallel,
    migrate_one,
    pending_schemas,
    template_lock,
)
from tenants.models import Tenant
from tenants.provisioning import template_schema

# Options that make a run something else than "everything up to date" (``--run-syncdb``,
# which the test database's creation passes, is not one of them).
_PARTIAL_OPTIONS = (
    "app_label",
    "migration_name",
    "fake",
    "fake_initial",
    "plan",
    "check_unapplied",
    "prune",
)


class Command(MigrateSchemasCommand):
    help = (
        "Migrate the public schema, the tenant template and every tenant that needs it "
        "(in parallel; one line per tenant)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--processes",
            type=int,
            default=settings.ENGIUM_MIGRATION_PROCESSES or min(4, os.cpu_count() or 1),
            help="Tenants migrated at once, each in a process of its own.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options.get("schema_name") or any(options.get(name) for name in _PARTIAL_OPTIONS):
            super().handle(*args, **options)
            return
        only_tenants, only_shared = options.get("tenant"), options.get("shared")
        if not only_tenants:
            super().handle(*args, **{**options, "shared": True, "tenant": False})
        if only_shared:
            return
        verbosity = int(options.get("verbosity", 1))
        # Each tenant's `migrate` skips the system checks this command has run.
        inner = {**options, "verbosity": max(verbosity - 1, 0), "skip_checks": True}

        template = template_schema()
        with template_lock():
            if not schema_exists(template):
                with connection.cursor() as cursor:
                    cursor.execute(f"CREATE SCHEMA {connection.ops.quote_name(template)}")
            if pending_schemas([template]):
                self._say(verbosity, f"Migrating the tenant template ({template})")
                outcome = migrate_one(args, inner, template)
                if not outcome.ok:
                    raise CommandError(f"The tenant template failed to migrate: {outcome.error}")

        started = time.monotonic()
        public = get_public_schema_name()
        tenants = list(
            Tenant.objects.exclude(schema_name=public)
            .order_by("created_at", "schema_name")
            .values_list("schema_name", flat=True)
        )
        pending = pending_schemas(tenants)
        self._say(
            verbosity,
            f"{len(tenants)} tenants: {len(tenants) - len(pending)} up to date, "
            f"{len(pending)} to migrate with {options['processes']} processes",
        )
        width = len(str(len(pending)))

        def report(rank: int, outcome: Outcome) -> None:
            result = "ok" if outcome.ok else f"FAILED: {outcome.error}"
            line = (
                f"[{rank:>{width}}/{len(pending)}] {outcome.schema_name} {result} "
                f"({outcome.seconds:.2f} s)"
            )
            if outcome.ok:
                self._say(verbosity, line)
            else:
                self.stderr.write(line)

        outcomes = migrate_in_parallel(
            pending, args, inner, processes=options["processes"], report=report
        )
        failed = [outcome for outcome in outcomes if not outcome.ok]
        self._say(
            verbosity,
            f"Migrated {len(outcomes) - len(failed)} tenants, {len(failed)} failed, "
            f"in {time.monotonic() - started:.1f} s",
        )
        if failed:
            names = ", ".join(outcome.schema_name for outcome in failed)
            raise CommandError(f"{len(failed)} tenants failed to migrate: {names}")

    def _say(self, verbosity: int, line: str) -> None:
        if verbosity >= 1:
            self.stdout.write(line)
