"""Webhook tests deliver to real HTTP receivers on 127.0.0.1: private addresses allowed,
and a short retry schedule (the SSRF tests turn the rule back on)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import _SESSION_TENANTS, TenantFixture
from tests.http_server import ScriptedServer
from webhooks.models import Attempt, Delivery, Endpoint, Event
from webhooks.services import drain_deliveries


@pytest.fixture(autouse=True)
def _webhook_settings(settings: Any) -> None:
    settings.ENGIUM_WEBHOOKS_ALLOW_PRIVATE = True


@pytest.fixture
def receiver() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def other_receiver() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


@pytest.fixture
def committed(django_db_setup: None, django_db_blocker: Any) -> Iterator[TenantFixture]:
    """Tenant A with the database open outside any test transaction (other connections and
    the worker's sender threads see the rows); emptied of webhooks after."""
    tenant = _SESSION_TENANTS["a"]
    with django_db_blocker.unblock():
        try:
            yield tenant
        finally:
            drain_deliveries(timeout=30)
            with tenant.schema():
                Attempt.objects.all().delete()
                Delivery.objects.all().delete()
                Endpoint.objects.all().delete()
                Event.objects.all().delete()
