"""Revoke an API key by its visible prefix or its ID.

The contract: docs/operations.md#revoking-keys-and-suspending-tenants.

manage.py revoke_api_key PREFIX [--tenant TENANT_ID]
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from engium.ids import is_valid_id
from engium.timestamps import iso_time
from tenants import keys
from tenants.models import TENANT_ID_PATTERN, ApiKey
from tenants.services import revoke_api_key

_EXPECTED = (
    f"expected the visible prefix of a key (its first {keys.VISIBLE_CHARS} characters, like "
    f"{keys.KEY_PREFIX}AbCdEfGh) or its ID (key_…)"
)


def describe(api_key: ApiKey) -> str:
    return f'{api_key.pk} "{api_key.name}" ({api_key.prefix}…) of tenant {api_key.tenant.public_id}'


class Command(BaseCommand):
    help = "Revoke an API key, named by its visible prefix (egk_ and 8 characters) or its ID."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix", metavar="PREFIX", help="e.g. egk_AbCdEfGh, or key_…")
        parser.add_argument(
            "--tenant",
            default=None,
            metavar="TENANT_ID",
            help="only the keys of this tenant (ten_…), when two keys share a prefix",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        argument: str = options["prefix"].strip()
        candidates = ApiKey.objects.select_related("tenant").order_by("pk")
        if is_valid_id(argument, "key"):
            candidates = candidates.filter(pk=argument)
        elif argument.startswith(keys.KEY_PREFIX) and len(argument) == keys.VISIBLE_CHARS:
            candidates = candidates.filter(prefix=argument)
        else:
            # Never echo the argument: it may be a whole key.
            raise CommandError(f"Not a key prefix: {_EXPECTED}.")
        tenant_id = options["tenant"]
        if tenant_id is not None:
            if not TENANT_ID_PATTERN.match(tenant_id):
                raise CommandError("--tenant must be a tenant ID (ten_…).")
            candidates = candidates.filter(tenant__public_id=tenant_id)

        found = list(candidates)
        if not found:
            where = f" in tenant {tenant_id}" if tenant_id else ""
            raise CommandError(f"No API key {argument}{where}.")
        active = [api_key for api_key in found if api_key.revoked_at is None]
        if len(active) > 1:
            listed = "\n".join(f"  {describe(api_key)}" for api_key in active)
            raise CommandError(
                f"The prefix {argument} is ambiguous; it matches {len(active)} keys:\n{listed}\n"
                "Pass the key's ID instead, or add --tenant."
            )
        if not active:
            for api_key in found:
                revoked_at = iso_time(api_key.revoked_at) if api_key.revoked_at else ""
                self.stdout.write(f"Already revoked at {revoked_at}: {describe(api_key)}")
            return
        api_key = revoke_api_key(active[0])
        revoked_at = iso_time(api_key.revoked_at) if api_key.revoked_at else ""
        self.stdout.write(f"Revoked at {revoked_at}: {describe(api_key)}")
