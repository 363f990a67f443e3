"""Celery tasks: thin wrappers over the services of the same name, taking primitive IDs.

Tasks for one tenant run in its schema (the `_schema_name` header); the periodic ones run
in `public` and visit each active tenant.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task
from celery.signals import worker_process_shutdown
from django.conf import settings
from django_tenants.utils import tenant_context

from conversations import services
from conversations.services import idempotency
from integrations.providers.base import StatusReport
from integrations.services import purge_provider_log as purge_tenant_provider_log
from tenants.models import Tenant

logger = logging.getLogger(__name__)


@shared_task(name=services.DELIVER_MESSAGE, acks_late=True)
def deliver_message(message_id: str) -> None:
    """One message (tasks published before batches existed; nothing publishes it now)."""
    services.deliver_message(message_id)


@shared_task(name=services.DISPATCH_MESSAGES, acks_late=True, bind=True)
def dispatch_messages(self: Task, message_ids: list[str] | None = None) -> None:
    """A wake-up: sends (their IDs, batched and coalesced per tenant by `engium.outbox.submit`)
    or a retry came due. Dispatches the tenant's oldest waiting messages, which include those,
    within its in-flight limit (an idle tenant's first batch is delivered here)."""
    services.dispatch_messages(woken=True, wait=self.request.is_eager)


@shared_task(name=services.DELIVER_MESSAGES, acks_late=True, bind=True)
def deliver_messages(self: Task, message_ids: list[str]) -> None:
    """A dispatched batch, delivered in order; then the tenant's next batches are dispatched.
    A worker returns once the batch's HTTP sends are started, and records them aside
    (`conversations.services.sending`); run eagerly, it waits for them instead."""
    services.deliver_messages(message_ids, wait=self.request.is_eager)


@worker_process_shutdown.connect(dispatch_uid="conversations_record_sends_in_flight")
def _record_sends_in_flight(**kwargs: object) -> None:
    """A worker process stopping first records the sends it started (else their leases
    expire, and their outcomes are looked up at the providers before any is sent again)."""
    if not services.drain_sends(timeout=settings.ENGIUM_PROVIDER_TIMEOUT_SECONDS + 5):
        logger.warning("provider sends still in flight at exit; their leases will expire")


@shared_task(name=services.APPLY_STATUS_REPORT, acks_late=True)
def apply_status_report(
    status: str, message_id: str | None = None, provider_message_id: str | None = None
) -> None:
    services.apply_status_report(
        StatusReport(status=status, message_id=message_id, provider_message_id=provider_message_id)
    )


@shared_task(name=services.PROCESS_CALLBACK, acks_late=True)
def process_callback(callback_id: int) -> None:
    services.process_callback(callback_id)


@shared_task(name=services.ANSWER_INBOUND, acks_late=True)
def answer_inbound(message_id: str) -> None:
    """An agent role's answer to an inbound message (queue ``agents``); at most once."""
    services.answer_inbound(message_id)


@shared_task(name=services.FETCH_INBOUND_MEDIA, acks_late=True)
def fetch_inbound_media(fetch_id: int) -> None:
    services.fetch_inbound_media(fetch_id)


@shared_task(name="conversations.sweep_undelivered")
def sweep_undelivered() -> int:
    """Every tenant's outbox: waiting and lost messages dispatched (within each tenant's
    in-flight limit), lost callbacks, agent turns and media fetches, the sandbox's due
    reports."""
    total = 0
    # Suspended tenants too: what was accepted is delivered.
    for tenant in Tenant.objects.exclude(schema_name="public"):
        with tenant_context(tenant):
            # Each part on its own: one failing (or a broken schema) stops neither the
            # others nor the other tenants.
            for sweep in (
                services.sweep_messages,
                services.redispatch_pending_callbacks,
                services.redispatch_pending_agent_turns,
                services.apply_due_sandbox_reports,
                services.redispatch_media_fetches,
            ):
                try:
                    total += sweep()
                except Exception:
                    logger.exception(
                        "outbox sweep failed for a tenant",
                        extra={"tenant": tenant.public_id, "sweep": sweep.__name__},
                    )
    return total


@shared_task(name="conversations.close_idle_conversations")
def close_idle_conversations() -> int:
    total = 0
    for tenant in Tenant.objects.exclude(schema_name="public"):
        try:
            with tenant_context(tenant):
                total += services.close_idle_conversations(
                    idle_seconds=tenant.effective_idle_seconds
                )
        except Exception:
            logger.exception(
                "closing idle conversations failed", extra={"tenant": tenant.public_id}
            )
    return total


@shared_task(name="conversations.purge_provider_log")
def purge_provider_log() -> int:
    """Delete provider log entries past their retention, in every tenant."""
    total = 0
    for tenant in Tenant.objects.exclude(schema_name="public"):
        try:
            with tenant_context(tenant):
                total += purge_tenant_provider_log()
        except Exception:
            logger.exception("purging the provider log failed", extra={"tenant": tenant.public_id})
    return total


@shared_task(name="conversations.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Forget Idempotency-Keys older than 24 h, in every tenant."""
    total = 0
    for tenant in Tenant.objects.exclude(schema_name="public"):
        try:
            with tenant_context(tenant):
                total += idempotency.purge_idempotency_keys()
        except Exception:
            logger.exception("purging idempotency keys failed", extra={"tenant": tenant.public_id})
    return total
