"""``migrate`` is ``migrate_schemas`` (as with django-tenants), with its fast whole run."""

from tenants.management.commands.migrate_schemas import Command

__all__ = ["Command"]
