"""`manage.py seed_demo --json`: the demo tenant of `make run`, with sandbox integrations.

Idempotent: the tenant and its key are remembered in ``.engium/demo.json`` (the key is
shown once by design, so this local file is the only copy) and reused while they exist.
So is the demo owner who logs in to the console (``demo@example.com``), whose password is
generated on the first run and kept in the same file (never in the repository).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django_tenants.utils import schema_context

from integrations.models import Channel, Integration
from integrations.services import connect_integration
from tenants.keys import hash_key
from tenants.models import ApiKey, Membership, Plan, Role, Tenant
from tenants.services import add_member, create_tenant

DEMO_FILE = settings.STATE_DIR / "demo.json"
DEMO_OWNER = "demo@example.com"


class Command(BaseCommand):
    help = "Create (or reuse) the demo tenant with sandbox integrations for every channel."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args: Any, **options: Any) -> None:
        demo = self._existing()
        if demo is None:
            tenant, issued = create_tenant(name="Demo", plan=Plan.PRO)
            demo = {"tenant_id": tenant.public_id, "api_key": issued.raw_key}
            DEMO_FILE.parent.mkdir(parents=True, exist_ok=True)
            DEMO_FILE.write_text(json.dumps(demo))
            DEMO_FILE.chmod(0o600)
        tenant = Tenant.objects.get(public_id=demo["tenant_id"])
        if not demo.get("console_password"):
            demo["console_email"] = DEMO_OWNER
            demo["console_password"] = secrets.token_urlsafe(12)
            DEMO_FILE.write_text(json.dumps(demo))
        user = get_user_model().objects.filter(username=demo["console_email"]).first()
        if user is None or not user.check_password(demo["console_password"]):
            add_member(
                tenant,
                email=demo["console_email"],
                password=demo["console_password"],
                role=Role.OWNER,
            )
        elif not Membership.objects.filter(user=user, tenant=tenant).exists():
            add_member(tenant, email=demo["console_email"], password=None, role=Role.OWNER)
        with schema_context(tenant.schema_name):
            for channel in Channel.values:
                if not Integration.objects.filter(channel=channel).exists():
                    connect_integration(
                        channel=channel, provider="sandbox", config={}, name="Sandbox"
                    )
        self.stdout.write(json.dumps(demo) if options["as_json"] else str(demo))

    def _existing(self) -> dict[str, str] | None:
        if not DEMO_FILE.exists():
            return None
        demo: dict[str, str] = json.loads(DEMO_FILE.read_text())
        usable = ApiKey.objects.filter(
            key_hash=hash_key(demo.get("api_key", "")),
            tenant__public_id=demo.get("tenant_id", ""),
            revoked_at__isnull=True,
        ).exists()
        return demo if usable else None
