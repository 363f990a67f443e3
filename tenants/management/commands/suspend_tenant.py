"""Suspend a tenant, or reactivate it.

The contract: docs/operations.md#revoking-keys-and-suspending-tenants.

manage.py suspend_tenant TENANT_ID [--reactivate]
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.models import TENANT_ID_PATTERN, Tenant
from tenants.services import set_tenant_active


class Command(BaseCommand):
    help = "Suspend a tenant (its API requests get 403), or reactivate it with --reactivate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant_id", metavar="TENANT_ID", help="the tenant's ID (ten_…)")
        parser.add_argument(
            "--reactivate", action="store_true", help="serve the tenant's API requests again"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant_id: str = options["tenant_id"].strip()
        tenant = (
            Tenant.objects.filter(public_id=tenant_id).first()
            if TENANT_ID_PATTERN.match(tenant_id)
            else None
        )
        if tenant is None:
            raise CommandError(f"No tenant {tenant_id!r} (expected a tenant ID, ten_…).")
        active = bool(options["reactivate"])
        state = "active" if active else "suspended"
        if tenant.is_active == active:
            self.stdout.write(f"Already {state}: {tenant.public_id} ({tenant.name})")
            return
        set_tenant_active(tenant, active=active)
        done = "Reactivated" if active else "Suspended"
        consequence = (
            "its API requests are served again"
            if active
            else "its API requests now get 403 tenant_suspended"
        )
        self.stdout.write(f"{done}: {tenant.public_id} ({tenant.name}); {consequence}.")
