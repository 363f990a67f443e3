"""Forget a tenant's cached routing whenever what it is made of changes (API or admin)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from agents.models import AgentRole
from conversations.routing import forget_routing
from engium.tenancy import current_schema
from integrations.models import Integration


@receiver([post_save, post_delete], sender=Integration)
@receiver([post_save, post_delete], sender=AgentRole)
def forget_routing_on_change(sender: Any, **kwargs: Any) -> None:
    schema = current_schema()
    forget_routing(schema)
    # Again after commit: a send may have cached the old routing while the change was open.
    transaction.on_commit(lambda: forget_routing(schema))
