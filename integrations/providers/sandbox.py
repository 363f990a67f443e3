"""The built-in sandbox provider: no network, a simulated carrier on a timetable.

* every channel; ``sent`` → ``delivered`` → ``read`` (read only on WhatsApp), each after
  the seconds of the config's ``timetable`` (default 0, 1 and 2 s after the send). The
  later steps are rows of `SandboxReport` (the simulated network's own state, the one
  model an adapter writes), applied by the beat sweep once due: a broker outage loses none;
* recipients ending in ``0001`` are refused (the message fails), ``0002`` are delivered
  but never read;
* inbound messages are simulated by ``POST /api/v1/integrations/{id}/sandbox/inbound``
  with ``{"from", "text"}``, parsed by `parse_callback` like any provider's callback.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from integrations.models import SandboxReport
from integrations.providers.base import (
    CallbackBatch,
    CallbackRequest,
    ConfigError,
    InboundMessage,
    OutboundMessage,
    PermanentProviderError,
    Provider,
    SendResult,
)

DEFAULT_TIMETABLE = {"sent": 0.0, "delivered": 1.0, "read": 2.0}
MAX_DELAY_SECONDS = 3600.0
FAILING_SUFFIX = "0001"
NEVER_READ_SUFFIX = "0002"


class SandboxProvider(Provider):
    slug = "sandbox"
    channels = frozenset({"whatsapp", "sms", "voice"})

    def validate_config(self, channel: str, config: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(config) - {"timetable"}
        if unknown:
            raise ConfigError(f"Unknown sandbox config key: {sorted(unknown)[0]}.", field="config")
        timetable = config.get("timetable", {})
        if not isinstance(timetable, Mapping):
            raise ConfigError("timetable must be an object.", field="config.timetable")
        clean: dict[str, float] = {}
        for step, value in timetable.items():
            if step not in DEFAULT_TIMETABLE:
                raise ConfigError(
                    f"timetable keys are sent, delivered and read; not {step}.",
                    field=f"config.timetable.{step}",
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError("timetable values are seconds.", field=f"config.timetable.{step}")
            if not 0 <= value <= MAX_DELAY_SECONDS:
                raise ConfigError(
                    f"timetable values are between 0 and {MAX_DELAY_SECONDS:g} seconds.",
                    field=f"config.timetable.{step}",
                )
            clean[step] = float(value)
        return {"timetable": clean} if clean else {}

    def timetable(self, config: Mapping[str, Any]) -> dict[str, float]:
        return {**DEFAULT_TIMETABLE, **config.get("timetable", {})}

    def send(
        self, config: Mapping[str, Any], message: OutboundMessage, *, idempotency_key: str
    ) -> SendResult:
        if message.recipient.endswith(FAILING_SUFFIX):
            raise PermanentProviderError(
                "sandbox_unreachable",
                f"The sandbox refuses recipients ending in {FAILING_SUFFIX}.",
            )
        timetable = self.timetable(config)
        confirmed = "sent" if timetable["sent"] == 0 else None
        provider_id = f"sbx_{secrets.token_hex(12)}"
        steps = ["sent", "delivered"]
        if message.channel == "whatsapp" and not message.recipient.endswith(NEVER_READ_SUFFIX):
            steps.append("read")
        # `sent` at once is confirmed in the answer; later steps arrive as reports, which
        # carry our ID as a real provider's callbacks do.
        now = timezone.now()
        SandboxReport.objects.bulk_create(
            SandboxReport(
                provider_message_id=provider_id,
                message_id=message.message_id,
                status=step,
                due_at=now + timedelta(seconds=max(timetable[step], timetable["sent"])),
            )
            for step in steps
            if not (step == "sent" and confirmed)
        )
        return SendResult(provider_message_id=provider_id, status=confirmed)

    def find_sent(
        self, config: Mapping[str, Any], message: OutboundMessage, *, since: datetime
    ) -> list[str]:
        # Its pending reports are the simulated network's memory of the message; once they
        # are applied, the message knows its provider ID and is never sent again anyway.
        return list(
            SandboxReport.objects.filter(message_id=message.message_id)
            .values_list("provider_message_id", flat=True)
            .distinct()
        )

    def callback_urls(
        self, *, public_url: str, callback_root: str, integration_id: str
    ) -> dict[str, str]:
        simulator = f"{public_url}/api/v1/integrations/{integration_id}/sandbox/inbound"
        return {"inbound_simulator": simulator}

    def verify_signature(self, config: Mapping[str, Any], request: CallbackRequest) -> bool:
        # The sandbox posts no callbacks from outside: its inbound simulator is part of the
        # authenticated API, so nothing arriving at a callback URL is its.
        return False

    def parse_callback(
        self, config: Mapping[str, Any], payload: Mapping[str, Any]
    ) -> CallbackBatch:
        return CallbackBatch(
            inbound=[
                InboundMessage(
                    sender=str(payload["from"]),
                    text=str(payload.get("text", "")),
                    provider_message_id=f"sbx_in_{secrets.token_hex(12)}",
                )
            ]
        )
