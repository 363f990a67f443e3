"""Managing endpoints, test events and replays (the webhooks API's writes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from engium.exceptions import NotFound, ValidationFailed
from webhooks.models import (
    ALL_EVENTS,
    SUBSCRIBABLE_EVENTS,
    Delivery,
    DeliveryStatus,
    Endpoint,
    Event,
    EventType,
)
from webhooks.network import UnsafeDestination, resolve
from webhooks.services.events import dispatch_new_deliveries
from webhooks.services.secrets import fresh_secrets, rotated


def _checked_url(url: str) -> str:
    try:
        resolve(url)
    except UnsafeDestination as exc:
        raise ValidationFailed(f"The URL is not allowed: {exc}.", field="url") from exc
    return url


def _checked_events(events: list[str]) -> list[str]:
    if not events:
        raise ValidationFailed('Subscribe to at least one event type, or to "*".', field="events")
    unknown = [e for e in events if e != ALL_EVENTS and e not in SUBSCRIBABLE_EVENTS]
    if unknown:
        raise ValidationFailed(f"Unknown event type: {unknown[0]}.", field="events")
    if ALL_EVENTS in events:
        return [ALL_EVENTS]
    return list(dict.fromkeys(events))


def _get(endpoint_id: str, *, lock: bool = False) -> Endpoint:
    rows = Endpoint.objects.select_for_update() if lock else Endpoint.objects
    endpoint = rows.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No webhook endpoint with this ID exists.")
    return endpoint


def create_endpoint(
    *, url: str, events: list[str], description: str = "", enabled: bool = True
) -> Endpoint:
    """A new endpoint with a fresh secret. The URL must be allowed (`webhooks.network`)."""
    return Endpoint.objects.create(
        url=_checked_url(url),
        events=_checked_events(events),
        description=description,
        enabled=enabled,
        secrets=fresh_secrets(),
    )


def update_endpoint(endpoint_id: str, **changes: Any) -> Endpoint:
    """Change the given fields. Enabling clears the disabled reason and resumes the parked
    deliveries; disabling parks them (``disabled_reason`` says why; default: the API)."""
    with transaction.atomic():
        endpoint = _get(endpoint_id, lock=True)
        if "url" in changes:
            endpoint.url = _checked_url(changes["url"])
        if "events" in changes:
            endpoint.events = _checked_events(changes["events"])
        if "description" in changes:
            endpoint.description = changes["description"]
        enabling = changes.get("enabled") is True and not endpoint.enabled
        disabling = changes.get("enabled") is False and endpoint.enabled
        if "enabled" in changes:
            endpoint.enabled = changes["enabled"]
        now = timezone.now()
        if enabling:
            endpoint.disabled_reason = ""
            endpoint.failing_since = None
            Delivery.objects.filter(
                endpoint=endpoint, status=DeliveryStatus.PENDING, next_attempt_at=None
            ).update(next_attempt_at=now, dispatched_at=None)
        if disabling:
            endpoint.disabled_reason = changes.get("disabled_reason") or "Disabled through the API."
            Delivery.objects.filter(
                endpoint=endpoint, status=DeliveryStatus.PENDING, claimed_until=None
            ).update(next_attempt_at=None, dispatched_at=None)
        endpoint.save()
    return endpoint


def delete_endpoint(endpoint_id: str) -> None:
    """Delete an endpoint with its deliveries and their log (the events stay)."""
    _get(endpoint_id).delete()


def rotate_endpoint_secret(endpoint_id: str) -> Endpoint:
    """A new secret; the old one keeps signing (beside the new) for 24 hours."""
    with transaction.atomic():
        endpoint = _get(endpoint_id, lock=True)
        endpoint.secrets = rotated(endpoint)
        endpoint.save(update_fields=["secrets", "updated_at"])
    return endpoint


def send_test_event(endpoint_id: str) -> Delivery:
    """A ``webhook.test`` event delivered to this endpoint only (even if it is disabled,
    it is recorded; it goes out once the endpoint is enabled)."""
    with transaction.atomic():
        endpoint = _get(endpoint_id)
        now = timezone.now()
        event = Event.objects.create(
            type=EventType.WEBHOOK_TEST,
            data={"endpoint_id": endpoint.id, "message": "A test event from Engium."},
        )
        delivery = Delivery.objects.create(
            endpoint=endpoint,
            event=event,
            next_attempt_at=now if endpoint.enabled else None,
            dispatched_at=now if endpoint.enabled else None,
            created_at=now,
            updated_at=now,
        )
        if endpoint.enabled:
            dispatch_new_deliveries([delivery.pk])
    return delivery


def replay_delivery(endpoint_id: str, event_id: str) -> Delivery:
    """Send one delivery again, whatever its outcome so far (with the same ``webhook-id``)."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update()
            .filter(endpoint_id=endpoint_id, event_id=event_id)
            .first()
        )
        if delivery is None:
            raise NotFound("No delivery of this event to this endpoint exists.")
        _replay([delivery.pk])
        delivery.refresh_from_db()
    return delivery


def replay_failed_deliveries(endpoint_id: str, *, since: datetime, until: datetime) -> int:
    """Send again every failed delivery of events created in [since, until); returns how many."""
    if until <= since:
        raise ValidationFailed("`until` must be after `since`.", field="until")
    _get(endpoint_id)
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update()
            .filter(
                endpoint_id=endpoint_id,
                status=DeliveryStatus.FAILED,
                created_at__gte=since,
                created_at__lt=until,
            )
            .values_list("pk", flat=True)
        )
        _replay(ids)
    return len(ids)


def _replay(ids: list[int]) -> None:
    now = timezone.now()
    # A replay is a fresh start: the retry schedule counts from its first attempt again.
    Delivery.objects.filter(pk__in=ids).update(
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        dispatched_at=now,
        claimed_until=None,
        updated_at=now,
    )
    dispatch_new_deliveries(ids)
