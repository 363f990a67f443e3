"""Raising events. Call inside the transaction that makes the change the event describes."""

from __future__ import annotations

from typing import Any

from webhooks.models import Event, EventType


def raise_event(event_type: EventType, data: dict[str, Any]) -> Event:
    return Event.objects.create(type=event_type, data=data)
