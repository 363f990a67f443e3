"""A provider adapter for tests: relays sends over real HTTP to a local scripted server.

It exercises the delivery service's retry and failure paths through the shared HTTP layer
(`integrations.providers.http`) that real adapters use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.providers import http
from integrations.providers.base import (
    CallbackBatch,
    CallbackRequest,
    ConfigError,
    OutboundMessage,
    Provider,
    SendResult,
)


class RelayProvider(Provider):
    slug = "relay"
    channels = frozenset({"whatsapp", "sms", "voice"})
    secret_fields = frozenset({"token"})

    def validate_config(self, channel: str, config: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(config.get("base_url"), str):
            raise ConfigError("base_url is required.", field="config.base_url")
        return dict(config)

    def send(
        self, config: Mapping[str, Any], message: OutboundMessage, *, idempotency_key: str
    ) -> SendResult:
        response = http.request(
            "POST",
            f"{config['base_url']}/messages",
            provider="relay",
            read_error=http.json_error_reader("error"),
            json={"to": message.recipient, "text": message.text},
            headers={"Idempotency-Key": idempotency_key},
        )
        return SendResult(provider_message_id=str(response.json()["id"]))

    def callback_urls(
        self, *, public_url: str, callback_root: str, integration_id: str
    ) -> dict[str, str]:
        return {"status": f"{callback_root}/status"}

    def verify_signature(self, config: Mapping[str, Any], request: CallbackRequest) -> bool:
        return request.headers.get("X-Relay-Token") == config.get("token")

    def parse_callback(
        self, config: Mapping[str, Any], payload: Mapping[str, Any]
    ) -> CallbackBatch:
        return CallbackBatch()
