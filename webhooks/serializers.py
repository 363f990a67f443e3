"""API shapes for webhook endpoints and deliveries."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from engium.api.pagination import ListQuerySerializer
from engium.api.serializers import (
    ClampedDateTimeField,
    StrictBooleanField,
    StrictCharField,
    StrictSerializer,
)
from engium.timestamps import iso_time
from webhooks.models import (
    ALL_EVENTS,
    SUBSCRIBABLE_EVENTS,
    Attempt,
    Delivery,
    DeliveryStatus,
    Endpoint,
)
from webhooks.services.secrets import secrets_in_use

EVENT_CHOICES = [ALL_EVENTS, *SUBSCRIBABLE_EVENTS]


def _events_field(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES),
        min_length=1,
        max_length=len(EVENT_CHOICES),
        help_text='Event types, or `["*"]` for every one.',
        **kwargs,
    )


class EndpointCreateSerializer(StrictSerializer):
    url = StrictCharField(max_length=2000, help_text="`https` URL receiving the events.")
    events = _events_field()
    description = StrictCharField(max_length=500, required=False, allow_blank=True, default="")
    enabled = StrictBooleanField(required=False, default=True)


class EndpointUpdateSerializer(StrictSerializer):
    url = StrictCharField(max_length=2000, required=False)
    events = _events_field(required=False)
    description = StrictCharField(max_length=500, required=False, allow_blank=True)
    enabled = StrictBooleanField(required=False)


class EndpointListQuery(ListQuerySerializer):
    id_prefix = "whep"


class DeliveryListQuery(ListQuerySerializer):
    id_prefix = "evt"
    status = serializers.ChoiceField(choices=DeliveryStatus.values, required=False)


class ReplaySerializer(StrictSerializer):
    since = ClampedDateTimeField(help_text="Events created at or after this time.")
    until = ClampedDateTimeField(help_text="Events created before this time.")


def render_endpoint(endpoint: Endpoint, *, with_secret: bool = False) -> dict[str, Any]:
    rendered = {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.events),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason or None,
        "created_at": iso_time(endpoint.created_at),
        "updated_at": iso_time(endpoint.updated_at),
    }
    if with_secret:
        rendered["secret"] = endpoint.secrets["current"]
    return rendered


def render_secret(endpoint: Endpoint) -> dict[str, Any]:
    held = endpoint.secrets
    previous_in_use = len(secrets_in_use(endpoint)) > 1
    return {
        "secret": held["current"],
        "previous_secret_valid_until": held["previous_until"] if previous_in_use else None,
    }


def render_attempt(attempt: Attempt) -> dict[str, Any]:
    return {
        "attempted_at": iso_time(attempt.attempted_at),
        "status_code": attempt.status_code,
        "duration_ms": attempt.duration_ms,
        "response": attempt.response,
        "error": attempt.error or None,
        "succeeded": attempt.succeeded,
    }


def render_delivery(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.event_id,
        "endpoint_id": delivery.endpoint_id,
        "event_type": delivery.event.type,
        "status": delivery.status,
        "attempt_count": delivery.attempts,
        "next_attempt_at": iso_time(delivery.next_attempt_at),
        "created_at": iso_time(delivery.created_at),
        "updated_at": iso_time(delivery.updated_at),
        "attempts": [render_attempt(a) for a in delivery.attempt_log.all()],
    }
