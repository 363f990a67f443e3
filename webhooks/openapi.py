"""OpenAPI documentation of the webhooks API: the answers of `webhooks.serializers.render_*`.

Documentation only; every field here mirrors a key the renderers write (checked by
`tests/engium/test_openapi.py`).
"""

from __future__ import annotations

from rest_framework import serializers

from engium.api.openapi import id_path_parameter, page_serializer
from webhooks.models import DeliveryStatus
from webhooks.serializers import EVENT_CHOICES


class WebhookEndpointSerializer(serializers.Serializer):
    """Where events are delivered."""

    id = serializers.CharField(help_text="`whep_…`")
    url = serializers.CharField(help_text="The `https` URL events are POSTed to.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES),
        help_text='The event types delivered, or `["*"]` for every one.',
    )
    description = serializers.CharField(allow_blank=True)
    enabled = serializers.BooleanField(help_text="Disabled endpoints receive nothing.")
    disabled_reason = serializers.CharField(
        allow_null=True,
        help_text="Why the endpoint was disabled (e.g. it answered `410 Gone`); null if enabled.",
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    """A new endpoint, with its signing secret."""

    secret = serializers.CharField(
        help_text="The signing secret: `whsec_` and base64 (Standard Webhooks)."
    )


class WebhookSecretSerializer(serializers.Serializer):
    """An endpoint's signing secret."""

    secret = serializers.CharField(help_text="`whsec_…`: the secret deliveries are signed with.")
    previous_secret_valid_until = serializers.DateTimeField(
        allow_null=True,
        help_text=(
            "After a rotation, the previous secret also signs every delivery until this time "
            "(24 hours); null when it no longer does."
        ),
    )


class WebhookAttemptSerializer(serializers.Serializer):
    """One HTTP attempt of a delivery."""

    attempted_at = serializers.DateTimeField()
    status_code = serializers.IntegerField(
        allow_null=True, help_text="The endpoint's HTTP status; null if it never answered."
    )
    duration_ms = serializers.IntegerField()
    response = serializers.CharField(
        allow_blank=True, help_text="The start of the answer's body (at most 1 KB)."
    )
    error = serializers.CharField(
        allow_null=True, help_text="Why no answer came (timeout, connection refused, …)."
    )
    succeeded = serializers.BooleanField(help_text="A 2xx answer within the timeout.")


class WebhookDeliverySerializer(serializers.Serializer):
    """One event owed to one endpoint, with every attempt so far."""

    id = serializers.CharField(
        help_text="The event's ID (`evt_…`), sent as `webhook-id` on every attempt."
    )
    endpoint_id = serializers.CharField(help_text="`whep_…`")
    event_type = serializers.CharField()
    status = serializers.ChoiceField(
        choices=DeliveryStatus.values,
        help_text="`pending` (due or retrying), `succeeded`, or `failed` (retries exhausted).",
    )
    attempt_count = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(
        allow_null=True, help_text="When the next attempt is due; null when none is."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    attempts = WebhookAttemptSerializer(many=True)


class WebhookReplayedSerializer(serializers.Serializer):
    """How many failed deliveries were sent again."""

    replayed = serializers.IntegerField()


WebhookEndpointPageSerializer = page_serializer("WebhookEndpointPage", WebhookEndpointSerializer)
WebhookDeliveryPageSerializer = page_serializer("WebhookDeliveryPage", WebhookDeliverySerializer)

ENDPOINT_ID = id_path_parameter("endpoint_id", "whep", "webhook endpoint")
DELIVERY_ID = id_path_parameter("delivery_id", "evt", "delivery (its event)")
