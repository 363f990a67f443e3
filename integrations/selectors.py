"""Reads on integrations."""

from __future__ import annotations

from engium.exceptions import NotFound
from integrations.models import Integration


def get_integration(integration_id: str) -> Integration:
    """The current tenant's integration with this ID; `NotFound` if there is none."""
    integration = Integration.objects.filter(pk=integration_id).first()
    if integration is None:
        raise NotFound("No integration with this ID exists.")
    return integration
