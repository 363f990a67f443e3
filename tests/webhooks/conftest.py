"""Webhook tests deliver to real HTTP receivers on 127.0.0.1: private addresses allowed,
and a short retry schedule (the SSRF tests turn the rule back on)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.http_server import ScriptedServer


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
