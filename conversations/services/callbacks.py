"""Provider callbacks: what a provider tells us about messages, applied in one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conversations.models import Message
from conversations.services.delivery import apply_status_report
from conversations.services.messages import receive_message
from integrations.models import Integration
from integrations.providers.registry import get_provider


def receive_callback(integration: Integration, payload: Mapping[str, Any]) -> list[Message]:
    """Apply a verified callback's status reports and store its inbound messages.

    Returns the inbound messages it stored. Signature checks happen before, in the view
    that received the request (they need the raw request).
    """
    batch = get_provider(integration.provider).parse_callback(integration.config, payload)
    for report in batch.statuses:
        apply_status_report(report)
    return [receive_message(integration, inbound) for inbound in batch.inbound]
