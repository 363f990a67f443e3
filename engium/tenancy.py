"""Typed access to django-tenants' connection state (the schema the current code runs in)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.db import connection

if TYPE_CHECKING:
    from tenants.models import Tenant


def _tenant_connection() -> Any:
    return cast(Any, connection)


def current_schema() -> str:
    return str(_tenant_connection().schema_name)


def use_public_schema() -> None:
    _tenant_connection().set_schema_to_public()


def use_tenant(tenant: Tenant) -> None:
    _tenant_connection().set_tenant(tenant)
