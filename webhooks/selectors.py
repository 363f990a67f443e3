"""Reads for the webhooks API."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from engium.exceptions import NotFound
from webhooks.models import Attempt, Delivery, Endpoint


def get_endpoint(endpoint_id: str) -> Endpoint:
    """The current tenant's endpoint with this ID; `NotFound` if there is none."""
    endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No webhook endpoint with this ID exists.")
    return endpoint


def filter_deliveries(endpoint_id: str, *, status: str | None = None) -> QuerySet[Delivery]:
    """An endpoint's deliveries with their event and attempt log (`NotFound` if no endpoint)."""
    get_endpoint(endpoint_id)
    rows = (
        Delivery.objects.filter(endpoint_id=endpoint_id)
        .select_related("event")
        .prefetch_related(Prefetch("attempt_log", queryset=Attempt.objects.order_by("id")))
    )
    return rows.filter(status=status) if status else rows


def get_delivery(endpoint_id: str, event_id: str) -> Delivery:
    """The delivery of one event to one endpoint; `NotFound` if there is none."""
    delivery = filter_deliveries(endpoint_id).filter(event_id=event_id).first()
    if delivery is None:
        raise NotFound("No delivery of this event to this endpoint exists.")
    return delivery
