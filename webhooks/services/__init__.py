"""The webhooks app's writes: events and their fan-out, endpoints, delivery."""

from webhooks.services.delivery import (
    disable_endpoint,
    dispatch_due_deliveries,
    purge_deliveries,
    schemas_with_due_deliveries,
    send_deliveries,
)
from webhooks.services.endpoints import (
    create_endpoint,
    delete_endpoint,
    replay_delivery,
    replay_failed_deliveries,
    rotate_endpoint_secret,
    send_test_event,
    update_endpoint,
)
from webhooks.services.events import SEND_DELIVERIES, raise_event, raise_events
from webhooks.services.sending import drain as drain_deliveries
from webhooks.services.sending import start_deliveries

__all__ = [
    "SEND_DELIVERIES",
    "create_endpoint",
    "delete_endpoint",
    "disable_endpoint",
    "dispatch_due_deliveries",
    "drain_deliveries",
    "purge_deliveries",
    "raise_event",
    "raise_events",
    "replay_delivery",
    "replay_failed_deliveries",
    "rotate_endpoint_secret",
    "schemas_with_due_deliveries",
    "send_deliveries",
    "send_test_event",
    "start_deliveries",
    "update_endpoint",
]
