"""The operator contract (docs/operations.md#creating-tenants): prints one JSON object with
`tenant_id` and `api_key`.

manage.py create_tenant --name NAME --plan PLAN [--rate-limit N]
                        [--owner-email E --owner-password P] --json
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email

from tenants.models import Language, Plan
from tenants.services import create_tenant


class Command(BaseCommand):
    help = "Create a tenant with its schema and a first API key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--plan", default=Plan.FREE, choices=Plan.values)
        parser.add_argument("--rate-limit", type=int, default=None, dest="rate_limit")
        parser.add_argument("--language", default="en", choices=Language.values)
        parser.add_argument("--owner-email", default=None, dest="owner_email")
        parser.add_argument("--owner-password", default=None, dest="owner_password")
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name:
            raise CommandError("--name must not be empty")
        if options["rate_limit"] is not None and options["rate_limit"] < 1:
            raise CommandError("--rate-limit must be a positive number of messages per minute")
        if options["owner_password"] and not options["owner_email"]:
            raise CommandError("--owner-password needs --owner-email")
        if options["owner_email"]:
            try:
                validate_email(options["owner_email"])
            except ValidationError as exc:
                raise CommandError("--owner-email is not a valid e-mail address") from exc

        tenant, issued = create_tenant(
            name=name,
            plan=options["plan"],
            rate_limit=options["rate_limit"],
            default_language=options["language"],
            owner_email=options["owner_email"],
            owner_password=options["owner_password"],
        )
        result = {
            "tenant_id": tenant.public_id,
            "api_key": issued.raw_key,
            "name": tenant.name,
            "plan": tenant.plan,
            "rate_limit": tenant.effective_rate_limit,
            "schema_name": tenant.schema_name,
        }
        if options["as_json"]:
            self.stdout.write(json.dumps(result))
        else:
            for key, value in result.items():
                self.stdout.write(f"{key}: {value}")
