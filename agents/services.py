"""Writes on agent roles. At most one role is the tenant's default: making one the default
takes the others' flag away in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction

from agents.models import AgentRole
from engium.exceptions import NotFound

_FIELDS = ("name", "instructions", "language", "greeting", "handoff_keywords", "knowledge")


def get_agent_role(role_id: Any) -> AgentRole:
    role = AgentRole.objects.filter(pk=role_id).first()
    if role is None:
        raise NotFound("No agent role with this ID exists.")
    return role


def create_agent_role(
    *,
    name: str,
    instructions: str,
    language: str,
    greeting: str = "",
    handoff_keywords: Sequence[str] = (),
    knowledge: Sequence[dict[str, str]] = (),
    is_default: bool = False,
) -> AgentRole:
    """Create a role; with ``is_default``, it becomes the tenant's only default."""
    with transaction.atomic():
        if is_default:
            _clear_default()
        return AgentRole.objects.create(
            name=name,
            instructions=instructions,
            language=language,
            greeting=greeting,
            handoff_keywords=list(handoff_keywords),
            knowledge=[dict(entry) for entry in knowledge],
            is_default=is_default,
        )


def update_agent_role(role_id: Any, **changes: Any) -> AgentRole:
    """Change the given fields; ``is_default=True`` takes the flag from any other role."""
    with transaction.atomic():
        if changes.get("is_default"):
            _clear_default(keep=role_id)
        role = AgentRole.objects.select_for_update().filter(pk=role_id).first()
        if role is None:
            raise NotFound("No agent role with this ID exists.")
        for field in (*_FIELDS, "is_default"):
            if field in changes:
                setattr(role, field, changes[field])
        role.save()
    return role


def delete_agent_role(role_id: Any) -> None:
    """Delete a role. Conversations it answered keep going with the tenant's default role,
    if there is one (their ``agent_role_id`` becomes null); their messages stay."""
    with transaction.atomic():
        role = AgentRole.objects.select_for_update().filter(pk=role_id).first()
        if role is None:
            raise NotFound("No agent role with this ID exists.")
        role.delete()


def _clear_default(*, keep: Any = None) -> None:
    """Take the default flag from every role (but ``keep``), serialised per tenant.

    Two requests making different roles the default at once would otherwise both clear the
    old one and then collide on ``one_default_agent_role``: a transaction-scoped advisory
    lock, one per tenant schema, makes the second wait for the first and then win.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.agent_role_default'))"
        )
    others = AgentRole.objects.filter(is_default=True)
    if keep is not None:
        others = others.exclude(pk=keep)
    for role in others.select_for_update():
        role.is_default = False
        role.save(update_fields=["is_default", "updated_at"])
