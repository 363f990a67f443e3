"""Celery tasks (queue ``webhooks``): thin wrappers over `webhooks.services`.

`send_deliveries` runs in its tenant's schema (the `_schema_name` header); the periodic
ones run in `public` and visit every tenant.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django_tenants.utils import get_tenant_model, tenant_context

from webhooks import services

logger = logging.getLogger(__name__)


@shared_task(name=services.SEND_DELIVERIES, acks_late=True)
def send_deliveries(delivery_ids: list[str]) -> int:
    return services.send_deliveries(delivery_ids)


def _each_tenant(what: str, run: object) -> int:
    assert callable(run)
    total = 0
    # Suspended tenants too: what was committed is owed to the endpoints.
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        try:
            with tenant_context(tenant):
                total += run()
        except Exception:  # one broken schema must not stop the others
            logger.exception(f"{what} failed for a tenant", extra={"schema": tenant.schema_name})
    return total


@shared_task(name="webhooks.sweep_deliveries")
def sweep_deliveries() -> int:
    """Publish every tenant's due deliveries (retries, and tasks that went missing)."""
    return _each_tenant("webhook sweep", services.dispatch_due_deliveries)


@shared_task(name="webhooks.purge_deliveries")
def purge_deliveries() -> int:
    """Drop attempts and finished deliveries past the retention period (90 days)."""
    return _each_tenant("webhook purge", services.purge_deliveries)
