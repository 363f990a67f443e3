"""Celery tasks (queue ``webhooks``): thin wrappers over `webhooks.services`.

`send_deliveries` runs in its tenant's schema (the `_schema_name` header); the periodic
ones run in `public` and visit every tenant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext

from celery import Task, shared_task
from celery.signals import worker_process_shutdown
from django.conf import settings
from django.db import connection, transaction
from django_tenants.utils import get_tenant_model, tenant_context

from webhooks import services

logger = logging.getLogger(__name__)


@shared_task(name=services.SEND_DELIVERIES, acks_late=True, bind=True)
def send_deliveries(self: Task, delivery_ids: list[str]) -> int:
    """Start the deliveries and return; the process's recorder logs their outcomes
    (`webhooks.services.sending`). Run eagerly, it waits for them instead."""
    if self.request.is_eager:
        return services.send_deliveries(delivery_ids)
    return services.start_deliveries(delivery_ids)


@worker_process_shutdown.connect
def _record_what_is_in_flight(**kwargs: object) -> None:
    """A worker process stopping first records the deliveries it started (else their
    leases expire and the sweep sends them again)."""
    if not services.drain_deliveries(timeout=settings.ENGIUM_WEBHOOK_TIMEOUT_SECONDS + 5):
        logger.warning("webhook deliveries still in flight at exit; they will be retried")


def _each_tenant(
    what: str, run: object, *, only: Callable[[list[str]], set[str]] | None = None
) -> int:
    """``run`` in every tenant's schema; with ``only``, in those of the schemas it names
    (every tenant if it fails: a schema it cannot read must not hide the others)."""
    assert callable(run)
    total = 0
    # Suspended tenants too: what was committed is owed to the endpoints.
    tenants = list(get_tenant_model().objects.exclude(schema_name="public"))
    if only is not None:
        try:
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                chosen = only([tenant.schema_name for tenant in tenants])
            tenants = [tenant for tenant in tenants if tenant.schema_name in chosen]
        except Exception:
            logger.exception(f"{what}: the probe failed; visiting every tenant")
    for tenant in tenants:
        try:
            with tenant_context(tenant):
                total += run()
        except Exception:  # one broken schema must not stop the others
            logger.exception(f"{what} failed for a tenant", extra={"schema": tenant.schema_name})
    return total


@shared_task(name="webhooks.sweep_deliveries")
def sweep_deliveries() -> int:
    """Publish every tenant's due deliveries (retries, and tasks that went missing),
    visiting only the tenants that have some (one probe statement for all of them)."""
    return _each_tenant(
        "webhook sweep",
        services.dispatch_due_deliveries,
        only=services.schemas_with_due_deliveries,
    )


@shared_task(name="webhooks.purge_deliveries")
def purge_deliveries() -> int:
    """Drop attempts and finished deliveries past the retention period (90 days)."""
    return _each_tenant("webhook purge", services.purge_deliveries)
