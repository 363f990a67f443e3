"""Celery tasks: thin wrappers over the services of the same name."""

from __future__ import annotations

import logging

from celery import shared_task
from django_tenants.utils import tenant_context

from message_templates import services
from tenants.models import Tenant

logger = logging.getLogger(__name__)


@shared_task(name=services.SUBMIT_TEMPLATE_BODIES, acks_late=True)
def submit_template_bodies(template_id: str) -> int:
    return services.submit_template_bodies(template_id)


@shared_task(name="message_templates.sync_templates")
def sync_templates() -> int:
    """Every tenant's templates in line with WhatsApp's review (statuses and lost submissions)."""
    total = 0
    for tenant in Tenant.objects.exclude(schema_name="public"):
        try:
            with tenant_context(tenant):
                total += services.sync_template_statuses()
        except Exception:
            logger.exception("syncing templates failed", extra={"tenant": tenant.public_id})
    return total
