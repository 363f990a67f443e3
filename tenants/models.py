"""Public-schema models: tenants, their API keys and their members."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin
from django_tenants.utils import schema_exists

from engium.ids import id_regex, new_id
from tenants.provisioning import clone_template

TENANT_ID_PATTERN = re.compile(f"^{id_regex('ten')}$")


class Plan(models.TextChoices):
    FREE = "free", "Free"  # 100 outbound messages per minute
    STARTER = "starter", "Starter"  # 500 per minute
    PRO = "pro", "Pro"  # 2000 per minute


class Language(models.TextChoices):
    EN = "en", "English"
    ES = "es", "Spanish"
    PT_BR = "pt_BR", "Portuguese (Brazil)"
    FR = "fr", "French"
    DE = "de", "German"
    IT = "it", "Italian"
    AR = "ar", "Arabic"
    HI = "hi", "Hindi"
    ID = "id", "Indonesian"


class Tenant(TenantMixin):
    """A business using Engium; its data lives in its own PostgreSQL schema.

    ``public_id`` is what developers send as ``X-Tenant-ID``; ``schema_name`` is internal.
    """

    public_id = models.CharField(max_length=40, unique=True, editable=False)
    name = models.CharField(max_length=200)
    plan = models.CharField(max_length=16, choices=Plan.choices, default=Plan.FREE)
    rate_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Outbound messages per minute; overrides the plan's limit when set.",
    )
    is_active = models.BooleanField(default=True, help_text="Suspended tenants get 403.")
    default_language = models.CharField(max_length=8, choices=Language.choices, default=Language.EN)
    conversation_idle_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Close conversations after this much inactivity; empty: the platform default.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    auto_create_schema = True
    auto_drop_schema = True

    class Meta:
        ordering = ["name"]

    def create_schema(
        self, check_if_exists: bool = False, sync_schema: bool = True, verbosity: int = 1
    ) -> bool:
        """Create the tenant's schema: cloned from the migrated template when there is one
        (tens of milliseconds), else migrated (django-tenants' way, about a second)."""
        wanted = sync_schema and not (check_if_exists and schema_exists(self.schema_name))
        if wanted and clone_template(self.schema_name):
            return True
        return bool(super().create_schema(check_if_exists, sync_schema, verbosity))

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def effective_rate_limit(self) -> int:
        if self.rate_limit:
            return self.rate_limit
        return settings.ENGIUM_PLAN_RATE_LIMITS[self.plan]

    @property
    def effective_idle_seconds(self) -> int:
        return self.conversation_idle_seconds or settings.ENGIUM_CONVERSATION_IDLE_SECONDS


class Domain(DomainMixin):
    """Required by django-tenants; Engium routes the API by `X-Tenant-ID`, not by host."""


def new_api_key_id() -> str:
    return new_id("key")


class ApiKey(models.Model):
    """A tenant's API key. Only its SHA-256 is stored; the key is shown once, at creation.

    Its ``id`` (``key_…``) names it in the API; ``prefix``, the key's visible start, is what
    a person recognises it by.
    """

    id = models.CharField(primary_key=True, max_length=40, default=new_api_key_id, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="Visible start of the key.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class Role(models.TextChoices):
    OWNER = "owner", "Owner"  # everything, billing and members included
    ADMIN = "admin", "Admin"  # settings, keys, integrations, webhooks
    DEVELOPER = "developer", "Developer"  # keys, webhooks, templates; reads everything
    VIEWER = "viewer", "Viewer"  # reads only


class Membership(models.Model):
    """A user's role in a tenant."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "tenant"], name="one_membership_per_user_tenant"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} as {self.role}"
