"""Connection tests, write-only secrets, the provider log's retention, the sandbox's timetable
in the database, and the sweep's re-publishing of callbacks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from conversations.models import Message
from conversations.services import (
    apply_due_sandbox_reports,
    deliver_message,
    redispatch_pending_callbacks,
)
from integrations.models import CallbackState, ProviderCallback, ProviderLogEntry, SandboxReport
from integrations.services import purge_provider_log
from tests.builders import create_integration, create_message
from tests.conftest import ApiClient, TenantFixture
from tests.fakes import AUTH_TOKEN, FakeTwilio, fixture
from tests.http_server import Reply


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


def test_connection_test_records_the_verdict_without_touching_status(
    api: ApiClient, tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    created = api.post(
        "integrations",
        tenant=tenant_a,
        json_body={"channel": "sms", "provider": "twilio", "config": twilio_api.config()},
    ).json()
    assert created["verification"] == "unverified" and created["verified_at"] is None

    verified = api.post(f"integrations/{created['id']}/test", tenant=tenant_a).json()
    assert verified["verification"] == "verified" and verified["verified_at"]

    twilio_api.replies.append(Reply(status=401, body=fixture("twilio", "error__authenticate")))
    failed = api.post(f"integrations/{created['id']}/test", tenant=tenant_a).json()
    assert failed["verification"] == "failed"
    assert failed["verification_detail"] == "20003: Authenticate"
    assert failed["status"] == created["status"]

    # a config change makes it unverified again
    changed = api.patch(
        f"integrations/{created['id']}",
        tenant=tenant_a,
        json_body={"config": {**twilio_api.config(), "auth_token": "new-token-0123"}},
    ).json()
    assert changed["verification"] == "unverified"


def test_secrets_are_write_only(
    api: ApiClient, tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    created = api.post(
        "integrations",
        tenant=tenant_a,
        json_body={"channel": "sms", "provider": "twilio", "config": twilio_api.config()},
    )
    assert AUTH_TOKEN.encode() not in created.content
    body = created.json()
    assert body["secrets_set"] == ["auth_token"] and "auth_token" not in body["config"]
    # a change leaving the secret out keeps it
    api.patch(
        f"integrations/{body['id']}",
        tenant=tenant_a,
        json_body={"config": {k: v for k, v in twilio_api.config().items() if k != "auth_token"}},
    )
    listed = api.get("integrations", tenant=tenant_a)
    assert AUTH_TOKEN.encode() not in listed.content
    with tenant_a.schema():
        from integrations.models import Integration

        assert Integration.objects.get(pk=body["id"]).config["auth_token"] == AUTH_TOKEN


def test_the_provider_log_is_purged_after_its_retention(tenant_a: TenantFixture) -> None:
    with tenant_a.schema():
        old = ProviderLogEntry.objects.create(
            message_id="msg_old", provider="twilio", method="POST", url="u"
        )
        ProviderLogEntry.objects.filter(pk=old.pk).update(
            created_at=timezone.now() - timedelta(days=31)
        )
        ProviderLogEntry.objects.create(
            message_id="msg_new", provider="twilio", method="POST", url="u"
        )
        assert purge_provider_log() == 1
        assert list(ProviderLogEntry.objects.values_list("message_id", flat=True)) == ["msg_new"]


def test_the_sandbox_timetable_lives_in_the_database(tenant_a: TenantFixture) -> None:
    queued = create_message(tenant_a, channel="whatsapp")
    with tenant_a.schema():
        sent = deliver_message(queued.id)
        assert sent is not None and sent.status == "sent"
        steps = list(SandboxReport.objects.values_list("status", flat=True))
        assert steps == ["delivered", "read"]
        # nothing is due yet
        assert apply_due_sandbox_reports() == 0
        # one second on: delivered; two: read (whatever the broker is doing)
        later = timezone.now() + timedelta(seconds=1.5)
        assert apply_due_sandbox_reports(now=later) == 1
        assert Message.objects.get(pk=queued.id).status == "delivered"
        assert apply_due_sandbox_reports(now=later + timedelta(seconds=1)) == 1
        assert Message.objects.get(pk=queued.id).status == "read"
        assert not SandboxReport.objects.exists()


def test_the_sweep_publishes_callbacks_whose_task_went_missing(
    tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    integration = create_integration(tenant_a, "sms", "twilio", **twilio_api.config())
    with tenant_a.schema():
        lost = ProviderCallback.objects.create(
            integration=integration, provider="twilio", kind="status", dispatched_at=None
        )
        fresh = ProviderCallback.objects.create(
            integration=integration,
            provider="twilio",
            kind="status",
            dispatched_at=timezone.now(),
        )
        with mock.patch("engium.outbox.publish", return_value=True) as publish:
            assert redispatch_pending_callbacks() == 1
        assert publish.call_args.kwargs["args"] == [lost.pk]
        assert ProviderCallback.objects.get(pk=fresh.pk).state == CallbackState.PENDING


def test_applied_callbacks_are_purged_after_the_retention_pending_ones_never(
    tenant_a: TenantFixture,
) -> None:
    from integrations.models import CallbackState, ProviderCallback

    with tenant_a.schema():

        def callback(state: str, days_old: int) -> int:
            row = ProviderCallback.objects.create(provider="twilio", kind="status", state=state)
            ProviderCallback.objects.filter(pk=row.pk).update(
                received_at=timezone.now() - timedelta(days=days_old)
            )
            return row.pk

        old_applied = callback(CallbackState.APPLIED, 31)
        old_pending = callback(CallbackState.PENDING, 31)
        recent = callback(CallbackState.APPLIED, 1)

        assert purge_provider_log() == 1
        left = set(ProviderCallback.objects.values_list("pk", flat=True))
        assert old_applied not in left and {old_pending, recent} <= left
