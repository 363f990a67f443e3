"""AI agent roles: who answers a conversation on the tenant's behalf."""

from __future__ import annotations

import secrets
import time
import uuid

from django.db import models
from django.db.models import Q

from tenants.models import Language


def new_agent_role_id() -> uuid.UUID:
    """A time-ordered UUID (version 7, RFC 9562): 48 bits of Unix milliseconds, then random.

    IDs of roles made later sort after earlier ones, so the list's cursor pagination
    (newest first, by ID) needs no other column.
    """
    millis = time.time_ns() // 1_000_000
    random = secrets.randbits(74)
    value = (
        (millis & (2**48 - 1)) << 80
        | 0x7 << 76  # version
        | (random >> 62) << 64  # 12 random bits
        | 0b10 << 62  # RFC 9562 variant
        | (random & (2**62 - 1))
    )
    return uuid.UUID(int=value)


class AgentRole(models.Model):
    """A persona with instructions; at most one is the tenant's default
    (constraint ``one_default_agent_role``).

    ``handoff_keywords`` is a list of words or phrases; ``knowledge`` a list of
    ``{"question", "answer"}`` objects. The API validates both (`agents.serializers`).
    """

    id = models.UUIDField(primary_key=True, default=new_agent_role_id, editable=False)
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
