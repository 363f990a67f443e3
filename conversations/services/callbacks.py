"""Provider callbacks: stored as received, then applied in one place.

A callback's request is verified and stored by `accept_callback` (in the web process, which
answers the provider at once), and applied by `process_callback` in a worker (queue
``delivery``), published by name through the outbox. A callback whose publish failed, or
whose task was lost, is found by `redispatch_pending_callbacks` in the beat sweep.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.db import transaction
from django.utils import timezone

from conversations.models import Message, MessageDirection
from conversations.services.delivery import apply_status_report
from conversations.services.inbound_media import schedule_media_fetch
from conversations.services.messages import receive_message
from engium import outbox
from engium.tenancy import current_schema
from integrations.models import CallbackState, Integration, ProviderCallback, SandboxReport
from integrations.providers.base import CallbackRequest, StatusReport
from integrations.providers.registry import get_provider
from message_templates.services import apply_template_status

logger = logging.getLogger(__name__)

PROCESS_CALLBACK = "conversations.process_callback"
#: how long a status report that names no message yet is tried again, and how often
CALLBACK_PATIENCE_SECONDS = 60.0
CALLBACK_RETRY_SECONDS = 5.0

#: headers never stored with a callback (proofs and credentials)
_UNSTORED_HEADERS = {
    "authorization",
    "cookie",
    "x-twilio-signature",
    "x-hub-signature-256",
    "x-hub-signature",
}


def receive_callback(integration: Integration, payload: Mapping[str, Any]) -> list[Message]:
    """Apply a verified callback's status reports and store its inbound messages.

    Returns the inbound messages it stored. Signature checks happen before, in the view
    that received the request (they need the raw request).
    """
    batch = get_provider(integration.provider).parse_callback(integration.config, payload)
    for report in batch.statuses:
        apply_status_report(report)
    for template_report in batch.template_statuses:
        apply_template_status(template_report)
    return [receive_message(integration, inbound) for inbound in batch.inbound]


def accept_callback(
    integration: Integration, *, kind: str, request: CallbackRequest, content_type: str
) -> ProviderCallback:
    """Store a verified callback and publish its processing (after commit).

    The caller verified the request's signature. Nothing is applied here: the provider is
    answered at once, and a worker applies the callback (`process_callback`).
    """
    with transaction.atomic():
        callback = ProviderCallback.objects.create(
            integration=integration,
            provider=integration.provider,
            kind=kind,
            content_type=content_type[:200],
            query=urlsplit(request.url).query,
            headers={
                key: value
                for key, value in request.headers.items()
                if key.lower() not in _UNSTORED_HEADERS
            },
            body=request.body.decode("utf-8", errors="replace"),
            dispatched_at=timezone.now(),
        )
        schema = current_schema()
        transaction.on_commit(lambda: _dispatch(schema, callback.pk))
    return callback


def _dispatch(schema: str, callback_id: int) -> bool:
    return outbox.publish(
        PROCESS_CALLBACK,
        schema=schema,
        args=[callback_id],
        if_unpublished=partial(_mark_undispatched, [callback_id]),
    )


def _mark_undispatched(callback_ids: list[int]) -> None:
    ProviderCallback.objects.filter(pk__in=callback_ids, state=CallbackState.PENDING).update(
        dispatched_at=None
    )


def decode_payload(callback: ProviderCallback) -> dict[str, Any]:
    """The callback's body as the provider's adapter reads it: JSON, or form fields."""
    if "json" in callback.content_type or callback.body.lstrip().startswith("{"):
        decoded = json.loads(callback.body or "{}")
        return decoded if isinstance(decoded, dict) else {}
    fields = parse_qs(callback.body, keep_blank_values=True)
    # The URL's own parameters (ours, e.g. the message ID) win over the body's.
    fields.update(parse_qs(callback.query, keep_blank_values=True))
    return {key: values[0] if len(values) == 1 else values for key, values in fields.items()}


def process_callback(callback_id: int) -> ProviderCallback | None:
    """Apply a stored callback once: its status reports, then its inbound messages.

    The row is locked (``SKIP LOCKED``) and marked in the same transaction as the changes
    it makes, so a duplicate task finds it done. Out-of-order and repeated statuses are
    harmless: `change_message_status` ignores moves backwards. A callback the adapter
    cannot read is marked ``failed`` (kept for support), not retried.
    """
    with transaction.atomic():
        callback = (
            ProviderCallback.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=callback_id, state=CallbackState.PENDING)
            .select_related("integration")
            .first()
        )
        if callback is None:
            return None
        integration = callback.integration
        notes: list[str] = []
        try:
            if integration is None:
                raise LookupError("the integration was removed")
            with transaction.atomic():
                batch = get_provider(integration.provider).parse_callback(
                    integration.config, decode_payload(callback)
                )
                applied = [apply_status_report(report) for report in batch.statuses]
                reviewed = [apply_template_status(report) for report in batch.template_statuses]
                stored = []
                for inbound in batch.inbound:
                    if _already_received(integration, inbound.provider_message_id):
                        # providers deliver webhooks at least once: a repeat is not a new message
                        notes.append(f"duplicate inbound message {inbound.provider_message_id}")
                        continue
                    message = receive_message(integration, inbound)
                    schedule_media_fetch(message, integration, inbound)
                    stored.append(message)
        except Exception as exc:
            logger.exception(
                "a provider callback could not be applied", extra={"callback": callback_id}
            )
            callback.state = CallbackState.FAILED
            notes.append(f"{type(exc).__name__}: {exc}")
        else:
            notes += batch.ignored
            unknown = sum(1 for message in applied if message is None)
            if unknown and not stored and _young(callback, now=timezone.now()):
                # A status may overtake the commit of the send it is about: try again soon
                # (applying a status twice changes nothing).
                schema = current_schema()
                callback.dispatched_at = timezone.now()
                callback.save(update_fields=["dispatched_at"])
                transaction.on_commit(
                    lambda: outbox.publish(
                        PROCESS_CALLBACK,
                        schema=schema,
                        args=[callback_id],
                        countdown=CALLBACK_RETRY_SECONDS,
                    )
                )
                return callback
            if unknown:
                notes.append(f"{unknown} status report(s) named no message of ours")
            unknown_templates = sum(1 for body in reviewed if body is None)
            if unknown_templates:
                notes.append(f"{unknown_templates} template status(es) named no template of ours")
            acted = len(batch.statuses) - unknown + len(stored) + len(reviewed) - unknown_templates
            callback.state = CallbackState.APPLIED if acted else CallbackState.IGNORED
        callback.notes = "\n".join(notes)[:4000]
        callback.processed_at = timezone.now()
        callback.save(update_fields=["state", "notes", "processed_at"])
    return callback


def _already_received(integration: Integration, provider_message_id: str | None) -> bool:
    return bool(provider_message_id) and (
        Message.objects.filter(
            integration=integration,
            direction=MessageDirection.INBOUND,
            provider_message_id=provider_message_id,
        ).exists()
    )


def _young(callback: ProviderCallback, *, now: datetime) -> bool:
    return now - callback.received_at < timedelta(seconds=CALLBACK_PATIENCE_SECONDS)


def redispatch_pending_callbacks(*, now: datetime | None = None, limit: int = 500) -> int:
    """Publish again the processing of callbacks whose task failed to publish or was lost."""
    return outbox.republish_stale(
        ProviderCallback.objects.filter(state=CallbackState.PENDING),
        stamp="dispatched_at",
        task_name=PROCESS_CALLBACK,
        schema=current_schema(),
        if_unpublished=_mark_undispatched,
        now=now,
        limit=limit,
    )


def apply_due_sandbox_reports(*, now: datetime | None = None, limit: int = 500) -> int:
    """Apply the sandbox's simulated reports that are due (the beat sweep calls this).

    Each report is applied and deleted in one transaction. A report about a message not
    recorded yet (its send is still committing) waits for the next sweep, for at most
    `CALLBACK_PATIENCE_SECONDS`.
    """
    now = now or timezone.now()
    applied = 0
    with transaction.atomic():
        due = list(
            SandboxReport.objects.select_for_update(skip_locked=True)
            .filter(due_at__lte=now)
            .order_by("due_at", "id")[:limit]
        )
        done = []
        for report in due:
            found = apply_status_report(
                StatusReport(
                    status=report.status,
                    provider_message_id=report.provider_message_id,
                    message_id=report.message_id or None,
                )
            )
            too_old = now - report.due_at > timedelta(seconds=CALLBACK_PATIENCE_SECONDS)
            if found is not None or too_old:
                done.append(report.pk)
                applied += found is not None
        SandboxReport.objects.filter(pk__in=done).delete()
    return applied
