"""An attempt whose outcome was lost is looked up at the provider: never sent twice.

A worker that dies while the provider answers (or a read timeout) leaves a message
`sending` with `outcome_unknown`; once its lease runs out, the next attempt first asks the
provider whether it took the message (`Provider.find_sent`) and sends only if it surely did
not. A provider that cannot be asked (WhatsApp Cloud) fails the message with
`delivery_outcome_unknown`, which its later report still corrects.

Each test makes the worker's death real: it claims the message, lets the adapter call the
fake provider over HTTP, and records nothing, as a killed process would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from conversations.models import Message
from conversations.services import deliver_message
from conversations.services.callbacks import apply_due_sandbox_reports
from conversations.services.delivery import _claim, apply_status_report
from integrations.models import Integration, SandboxReport
from integrations.providers.base import OutboundMessage, StatusReport
from integrations.providers.registry import get_provider
from tests.builders import create_integration, create_message
from tests.conftest import TenantFixture
from tests.fakes import FakeGraph, FakeTwilio
from tests.http_server import Reply

RECIPIENT = "+15550104444"


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def graph_api() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        yield server


def _die_after_the_provider_answered(message_id: str, *, send: bool = True) -> str | None:
    """Claim the message and (if ``send``) hand it to the provider, then record nothing."""
    claimed = _claim(message_id)
    assert claimed is not None
    message, integration, unknown = claimed
    assert not unknown and message.outcome_unknown
    if not send:
        return None
    assert integration is not None
    outbound = OutboundMessage(
        message_id=message.id,
        channel=message.channel,
        recipient=message.recipient,
        text=message.text,
    )
    result = get_provider(integration.provider).send(
        integration.config, outbound, idempotency_key=message.id
    )
    return result.provider_message_id


def _lease_runs_out(message_id: str) -> None:
    Message.objects.filter(pk=message_id).update(next_attempt_at=timezone.now())


def _history(message_id: str) -> list[str]:
    message = Message.objects.get(pk=message_id)
    return list(message.status_history.order_by("id").values_list("status", flat=True))


def test_twilio_took_it_the_next_attempt_finds_it_and_sends_nothing(
    tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    create_integration(tenant_a, "sms", "twilio", is_default=True, **twilio_api.config())
    # an earlier message with the same text to the same recipient is someone else's send
    other = create_message(tenant_a, channel="sms", recipient=RECIPIENT, text="same words")
    queued = create_message(tenant_a, channel="sms", recipient=RECIPIENT, text="same words")
    with tenant_a.schema():
        deliver_message(other.id)
        sid = _die_after_the_provider_answered(queued.id)
        _lease_runs_out(queued.id)

        message = deliver_message(queued.id)

        assert message is not None and message.status == "sent"
        assert (
            message.provider_message_id
            == sid
            != Message.objects.get(pk=other.id).provider_message_id
        )
        assert not message.outcome_unknown and message.next_attempt_at is None
        assert _history(queued.id) == ["queued", "sending", "sent"]
    assert len(twilio_api.sends()) == 2  # one for each message, none again
    lookups = [r for r in twilio_api.received if r.method == "GET"]
    assert len(lookups) == 1 and "To=%2B15550104444" in lookups[0].path


def test_twilio_never_took_it_the_next_attempt_sends_it_once(
    tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    create_integration(tenant_a, "sms", "twilio", is_default=True, **twilio_api.config())
    queued = create_message(tenant_a, channel="sms", recipient=RECIPIENT)
    with tenant_a.schema():
        _die_after_the_provider_answered(queued.id, send=False)
        _lease_runs_out(queued.id)

        message = deliver_message(queued.id)

        assert message is not None and message.status == "sent"
        assert message.provider_message_id == twilio_api.last_sid
    assert len(twilio_api.sends()) == 1


def test_a_twilio_call_is_looked_up_in_the_calls_list(
    tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    create_integration(tenant_a, "voice", "twilio", is_default=True, **twilio_api.config())
    queued = create_message(tenant_a, channel="voice", recipient=RECIPIENT)
    with tenant_a.schema():
        sid = _die_after_the_provider_answered(queued.id)
        _lease_runs_out(queued.id)
        message = deliver_message(queued.id)
        assert message is not None and message.provider_message_id == sid
        assert sid is not None and sid.startswith("CA")
    assert len(twilio_api.sends()) == 1


def test_a_read_timeout_is_looked_up_before_the_retry(
    tenant_a: TenantFixture, twilio_api: FakeTwilio, settings: Any
) -> None:
    # Twilio takes the message but answers after our timeout: the answer is lost.
    settings.ENGIUM_PROVIDER_TIMEOUT_SECONDS = 0.3
    create_integration(tenant_a, "sms", "twilio", is_default=True, **twilio_api.config())
    queued = create_message(tenant_a, channel="sms", recipient=RECIPIENT)
    twilio_api.replies.append(Reply(status=201, body=twilio_api._created, delay=1.0))
    with tenant_a.schema():
        first = deliver_message(queued.id)
        assert first is not None and first.status == "sending"
        assert first.error_code == "twilio_timeout" and first.outcome_unknown
        # (the fake records the message when it answers, late: as Twilio had taken it)
        deadline = time.monotonic() + 5
        while not twilio_api.created["messages"] and time.monotonic() < deadline:
            time.sleep(0.05)
        _lease_runs_out(queued.id)

        message = deliver_message(queued.id)

        assert message is not None and message.status == "sent"
        assert message.provider_message_id == twilio_api.created["messages"][0]["sid"]
    assert len(twilio_api.sends()) == 1


def test_a_refused_connection_is_retried_without_a_lookup(
    tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    integration = create_integration(
        tenant_a, "sms", "twilio", is_default=True, **twilio_api.config()
    )
    queued = create_message(tenant_a, channel="sms", recipient=RECIPIENT)
    with tenant_a.schema():
        # nothing listens there: the request never left, so the retry needs no lookup
        Integration.objects.filter(pk=integration.pk).update(
            config={**integration.config, "base_url": "http://127.0.0.1:9"}
        )
        first = deliver_message(queued.id)
        assert first is not None and first.error_code == "twilio_unreachable"
        assert not first.outcome_unknown


def test_whatsapp_cloud_cannot_be_asked_so_the_message_fails_and_its_report_corrects_it(
    tenant_a: TenantFixture, graph_api: FakeGraph
) -> None:
    create_integration(
        tenant_a,
        "whatsapp",
        "whatsapp_cloud",
        is_default=True,
        **graph_api.config(session_window=False),
    )
    queued = create_message(tenant_a, channel="whatsapp", recipient=RECIPIENT)
    with tenant_a.schema():
        wamid = _die_after_the_provider_answered(queued.id)
        _lease_runs_out(queued.id)

        message = deliver_message(queued.id)

        assert message is not None and message.status == "failed"
        assert message.error_code == "delivery_outcome_unknown"
        assert len([r for r in graph_api.received if r.method == "POST"]) == 1

        # Meta's status webhook (it echoes our ID) arrives late: the message moves on.
        healed = apply_status_report(
            StatusReport(status="delivered", provider_message_id=wamid, message_id=queued.id)
        )
        assert healed is not None and healed.status == "delivered"
        assert healed.provider_message_id == wamid and healed.error_code == ""
        assert _history(queued.id) == ["queued", "sending", "failed", "delivered"]


def test_whatsapp_cloud_resends_when_the_operator_chose_to(
    tenant_a: TenantFixture, graph_api: FakeGraph, settings: Any
) -> None:
    settings.ENGIUM_DELIVERY_UNKNOWN_OUTCOME = "resend"
    create_integration(
        tenant_a,
        "whatsapp",
        "whatsapp_cloud",
        is_default=True,
        **graph_api.config(session_window=False),
    )
    queued = create_message(tenant_a, channel="whatsapp", recipient=RECIPIENT)
    with tenant_a.schema():
        _die_after_the_provider_answered(queued.id)
        _lease_runs_out(queued.id)
        message = deliver_message(queued.id)
        assert message is not None and message.status == "sent"
    assert len([r for r in graph_api.received if r.method == "POST"]) == 2


def test_a_lookup_that_fails_keeps_the_outcome_unknown(
    tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    create_integration(tenant_a, "sms", "twilio", is_default=True, **twilio_api.config())
    queued = create_message(tenant_a, channel="sms", recipient=RECIPIENT)
    with tenant_a.schema():
        sid = _die_after_the_provider_answered(queued.id)
        _lease_runs_out(queued.id)
        twilio_api.replies.append(Reply(status=503, body={"code": 20500, "message": "down"}))

        retried = deliver_message(queued.id)
        assert retried is not None and retried.status == "sending" and retried.outcome_unknown
        _lease_runs_out(queued.id)
        message = deliver_message(queued.id)

        assert message is not None and message.provider_message_id == sid
    assert len(twilio_api.sends()) == 1


def test_the_sandbox_remembers_what_it_took(tenant_a: TenantFixture) -> None:
    queued = create_message(tenant_a, channel="whatsapp", recipient=RECIPIENT)
    with tenant_a.schema():
        provider_id = _die_after_the_provider_answered(queued.id)
        reports = SandboxReport.objects.filter(message_id=queued.id).count()
        assert reports == 2  # delivered and read, each naming our message
        _lease_runs_out(queued.id)

        message = deliver_message(queued.id)

        assert message is not None and message.provider_message_id == provider_id
        assert SandboxReport.objects.filter(message_id=queued.id).count() == reports


def test_sandbox_reports_find_a_message_whose_send_was_never_recorded(
    tenant_a: TenantFixture,
) -> None:
    queued = create_message(tenant_a, channel="whatsapp", recipient=RECIPIENT)
    with tenant_a.schema():
        provider_id = _die_after_the_provider_answered(queued.id)
        SandboxReport.objects.update(due_at=timezone.now() - timedelta(seconds=1))
        assert apply_due_sandbox_reports() == 2
        message = Message.objects.get(pk=queued.id)
        assert message.status == "read" and message.provider_message_id == provider_id
        assert message.next_attempt_at is None and not message.outcome_unknown
