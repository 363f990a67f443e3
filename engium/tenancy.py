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


def current_tenant_public_id() -> str:
    """The public ID (``ten_…``) of the tenant whose schema the connection is on.

    A tenant's schema is ``t_`` followed by the 26 characters of its public ID
    (`tenants.services.create_tenant`), so a bare schema switch knows it too.
    """
    public_id = getattr(getattr(connection, "tenant", None), "public_id", None)
    if public_id:
        return str(public_id)
    return "ten_" + current_schema().removeprefix("t_")
