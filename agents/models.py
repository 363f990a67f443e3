"""AI agent roles: who answers a conversation on the tenant's behalf."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from tenants.models import Language


class AgentRole(models.Model):
    """A persona with instructions; at most one is the tenant's default
    (constraint ``one_default_agent_role``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    instructions = models.TextField()
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.EN)
    greeting = models.TextField(blank=True)
    handoff_keywords = models.JSONField(default=list, blank=True)
    knowledge = models.JSONField(default=list, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_agent_role"
            ),
        ]

    def __str__(self) -> str:
        return self.name
