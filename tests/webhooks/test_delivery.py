"""Delivery: fan-out with the change, Standard Webhooks signatures, retries, disabling,
ordering, fairness between endpoints, the sweep and the purge."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from conversations.models import Message, MessageStatus
from conversations.services.delivery import apply_status_report
from integrations.providers.base import StatusReport
from tests.conftest import ApiClient, TenantFixture
from tests.http_server import Received, Reply, ScriptedServer
from webhooks.models import Attempt, Delivery, DeliveryStatus, Endpoint, Event
from webhooks.services import (
    create_endpoint,
    dispatch_due_deliveries,
    purge_deliveries,
    rotate_endpoint_secret,
    send_deliveries,
)
from webhooks.services import delivery as delivery_service


def verified(endpoint: Endpoint, received: Received, secret: str | None = None) -> Any:
    """The payload, after the official verifier accepted the request."""
    return Webhook(secret or endpoint.secrets["current"]).verify(received.body, received.headers)


def pending_ids() -> list[str]:
    pending = Delivery.objects.filter(status="pending").values_list("pk", flat=True)
    return [str(pk) for pk in pending]


def make_due(*ids: int) -> None:
    Delivery.objects.filter(pk__in=ids).update(next_attempt_at=timezone.now())


def send_first_message(api: ApiClient, tenant: TenantFixture) -> str:
    answer = api.send(tenant)
    assert answer.status_code == 201, answer.content
    return str(answer.json()["message"]["id"])


def report(message_id: str, status: str) -> None:
    apply_status_report(StatusReport(status=status, message_id=message_id))


def test_an_event_is_fanned_out_with_its_change_and_arrives_signed(
    api: ApiClient, tenant_a: TenantFixture, receiver: ScriptedServer
) -> None:
    with tenant_a.schema():
        endpoint = create_endpoint(url=f"{receiver.url}/hooks", events=["*"])
        other = create_endpoint(url=f"{receiver.url}/x", events=["conversation.closed"])
    send_first_message(api, tenant_a)
    with tenant_a.schema():
        deliveries = list(Delivery.objects.select_related("event"))
        # conversation.created, to the endpoint subscribed to everything only
        assert [(d.endpoint_id, d.event.type) for d in deliveries] == [
            (endpoint.id, "conversation.created")
        ]
        assert send_deliveries(pending_ids()) == 1
        (received,) = receiver.received
        payload = verified(endpoint, received)
        event = deliveries[0].event
        assert received.path == "/hooks"
        assert received.headers["webhook-id"] == event.id
        assert payload == {
            "type": "conversation.created",
            "timestamp": payload["timestamp"],
            "data": event.data,
        }
        delivery = Delivery.objects.get()
        assert delivery.status == DeliveryStatus.SUCCEEDED
        attempt = Attempt.objects.get()
        assert (attempt.status_code, attempt.succeeded) == (200, True)
        assert not Delivery.objects.filter(endpoint=other).exists()


def test_delivered_and_read_reach_a_subscribed_endpoint_in_order(
    api: ApiClient, tenant_a: TenantFixture, receiver: ScriptedServer
) -> None:
    with tenant_a.schema():
        endpoint = create_endpoint(
            url=receiver.url,
            events=["conversation.message.delivered", "conversation.message.read"],
        )
    message_id = send_first_message(api, tenant_a)
    with tenant_a.schema():
        Message.objects.filter(pk=message_id).update(status=MessageStatus.SENT)
        report(message_id, "delivered")
        report(message_id, "read")
        # Both in one batch: `read` waits for `delivered`, then goes in the next round.
        send_deliveries(pending_ids())
        types = [verified(endpoint, r)["type"] for r in receiver.received]
        assert types == ["conversation.message.delivered", "conversation.message.read"]
        data = verified(endpoint, receiver.received[1])["data"]
        assert (data["id"], data["status"]) == (message_id, "read")


def test_a_receiver_that_fails_then_recovers_gets_the_same_webhook_id(
    tenant_a: TenantFixture, receiver: ScriptedServer, settings: Any
) -> None:
    receiver.replies.extend([Reply(status=500), Reply(status=503, headers={"Retry-After": "7"})])
    with tenant_a.schema():
        endpoint = create_endpoint(url=receiver.url, events=["*"])
        delivery = Delivery.objects.get(pk=_test_delivery(endpoint))
        before = timezone.now()
        send_deliveries([str(delivery.pk)])
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.PENDING
        assert delivery.next_attempt_at is not None and delivery.dispatched_at is None
        # first retry: 5 s ± 20 %
        assert before + timedelta(seconds=3.9) <= delivery.next_attempt_at
        assert delivery.next_attempt_at <= timezone.now() + timedelta(seconds=6.1)
        endpoint.refresh_from_db()
        assert endpoint.failing_since is not None

        make_due(delivery.pk)
        send_deliveries([str(delivery.pk)])
        delivery.refresh_from_db()
        # 503 with Retry-After: 7 s, not the schedule's 5 min
        assert delivery.next_attempt_at is not None
        assert delivery.next_attempt_at <= timezone.now() + timedelta(seconds=7.5)

        make_due(delivery.pk)
        send_deliveries([str(delivery.pk)])
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.SUCCEEDED
        assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
        assert len(receiver.received) == 3
        for received in receiver.received:
            verified(endpoint, received)
        log = list(Attempt.objects.filter(delivery=delivery).values_list("status_code", flat=True))
        assert log == [500, 503, 200]
        endpoint.refresh_from_db()
        assert endpoint.failing_since is None


def _test_delivery(endpoint: Endpoint) -> int:
    from webhooks.services import send_test_event

    return send_test_event(endpoint.id).pk


def test_the_last_retry_fails_the_delivery(
    tenant_a: TenantFixture, receiver: ScriptedServer, settings: Any
) -> None:
    settings.ENGIUM_WEBHOOK_RETRY_SCHEDULE = [1.0]
    receiver.default = Reply(status=500)
    with tenant_a.schema():
        endpoint = create_endpoint(url=receiver.url, events=["*"])
        pk = _test_delivery(endpoint)
        send_deliveries([str(pk)])
        make_due(pk)
        send_deliveries([str(pk)])
        delivery = Delivery.objects.get(pk=pk)
        assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 2, None)


def test_410_gone_disables_the_endpoint(tenant_a: TenantFixture, receiver: ScriptedServer) -> None:
    receiver.default = Reply(status=410)
    with tenant_a.schema():
        endpoint = create_endpoint(url=receiver.url, events=["*"])
        pk = _test_delivery(endpoint)
        send_deliveries([str(pk)])
        endpoint.refresh_from_db()
        assert endpoint.enabled is False
        assert "410" in endpoint.disabled_reason
        assert Delivery.objects.get(pk=pk).status == DeliveryStatus.FAILED


def test_an_endpoint_failing_for_five_days_is_disabled(
    tenant_a: TenantFixture, receiver: ScriptedServer
) -> None:
    receiver.default = Reply(status=500)
    with tenant_a.schema():
        endpoint = create_endpoint(url=receiver.url, events=["*"])
        Endpoint.objects.filter(pk=endpoint.pk).update(
            failing_since=timezone.now() - timedelta(days=5, minutes=1)
        )
        first, second = _test_delivery(endpoint), _test_delivery(endpoint)
        send_deliveries([str(first)])
        endpoint.refresh_from_db()
        assert endpoint.enabled is False
        assert "failed for 5" in endpoint.disabled_reason
        # what was still owed is parked, not sent, until the endpoint is enabled again
        assert Delivery.objects.get(pk=second).next_attempt_at is None


def test_a_redirect_is_a_failure_and_not_followed(
    tenant_a: TenantFixture, receiver: ScriptedServer, other_receiver: ScriptedServer
) -> None:
    receiver.default = Reply(status=307, headers={"Location": other_receiver.url})
    with tenant_a.schema():
        endpoint = create_endpoint(url=receiver.url, events=["*"])
        pk = _test_delivery(endpoint)
        send_deliveries([str(pk)])
        assert Delivery.objects.get(pk=pk).status == DeliveryStatus.PENDING
    assert other_receiver.received == []


def test_a_hanging_receiver_does_not_delay_another_endpoint(
    tenant_a: TenantFixture, receiver: ScriptedServer, other_receiver: ScriptedServer, settings: Any
) -> None:
    settings.ENGIUM_WEBHOOK_TIMEOUT_SECONDS = 30
    release = threading.Event()
    hanging = Reply(delay=0)
    receiver.default = hanging
    original = receiver.httpd.RequestHandlerClass.do_POST

    def hang(handler: Any) -> None:
        release.wait(30)
        original(handler)

    receiver.httpd.RequestHandlerClass.do_POST = hang  # type: ignore[attr-defined]
    with tenant_a.schema():
        slow = create_endpoint(url=receiver.url, events=["*"])
        fast = create_endpoint(url=other_receiver.url, events=["*"])
        ids = [str(_test_delivery(slow)), str(_test_delivery(fast))]
        done: list[int] = []
        original_record = delivery_service._record

        def record(landed: Any) -> None:
            original_record(landed)
            if any(item.endpoint.pk == fast.pk for item, _ in landed):
                done.append(1)
                # the fast endpoint's delivery is in and recorded while the other hangs
                assert other_receiver.received and not release.is_set()
                release.set()

        delivery_service._record = record  # type: ignore[assignment]
        try:
            send_deliveries(ids)
        finally:
            delivery_service._record = original_record  # type: ignore[assignment]
        assert done == [1]
        statuses = dict(Delivery.objects.values_list("endpoint_id", "status"))
        assert statuses == {slow.pk: "succeeded", fast.pk: "succeeded"}


def test_rotation_sends_both_signatures_each_verifying(
    tenant_a: TenantFixture, receiver: ScriptedServer
) -> None:
    with tenant_a.schema():
        endpoint = create_endpoint(url=receiver.url, events=["*"])
        old = endpoint.secrets["current"]
        endpoint = rotate_endpoint_secret(endpoint.id)
        new = endpoint.secrets["current"]
        assert new != old
        send_deliveries([str(_test_delivery(endpoint))])
        (received,) = receiver.received
        assert len(received.headers["webhook-signature"].split(" ")) == 2
        assert verified(endpoint, received, new)["type"] == "webhook.test"
        assert verified(endpoint, received, old)["type"] == "webhook.test"
        # after 24 hours only the new secret signs
        secrets = dict(endpoint.secrets)
        secrets["previous_until"] = (timezone.now() - timedelta(seconds=1)).isoformat()
        Endpoint.objects.filter(pk=endpoint.pk).update()
        endpoint.secrets = secrets
        endpoint.save()
        send_deliveries([str(_test_delivery(endpoint))])
        assert len(receiver.received[1].headers["webhook-signature"].split(" ")) == 1
        verified(endpoint, receiver.received[1], new)


def test_the_sweep_publishes_due_retries_and_lost_tasks(
    tenant_a: TenantFixture, receiver: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[list[str]] = []
    monkeypatch.setattr(
        delivery_service.outbox,
        "publish",
        lambda name, *, schema, args, **kw: published.append(list(args[0])) or True,
    )
    with tenant_a.schema():
        endpoint = create_endpoint(url=receiver.url, events=["*"])
        lost, retry, later = (_test_delivery(endpoint) for _ in range(3))
        now = timezone.now()
        Delivery.objects.filter(pk=lost).update(dispatched_at=now - timedelta(minutes=5))
        Delivery.objects.filter(pk=retry).update(dispatched_at=None)
        Delivery.objects.filter(pk=later).update(
            next_attempt_at=now + timedelta(minutes=5), dispatched_at=None
        )
        assert dispatch_due_deliveries() == 2
        assert sorted(published[0]) == sorted([str(lost), str(retry)])
        # recorded as dispatched: the next sweep does not publish them again
        assert dispatch_due_deliveries() == 0


def test_the_purge_drops_old_attempts_and_finished_deliveries(
    tenant_a: TenantFixture, receiver: ScriptedServer
) -> None:
    with tenant_a.schema():
        endpoint = create_endpoint(url=receiver.url, events=["*"])
        old, recent = _test_delivery(endpoint), _test_delivery(endpoint)
        send_deliveries([str(old), str(recent)])
        long_ago = timezone.now() - timedelta(days=91)
        Delivery.objects.filter(pk=old).update(updated_at=long_ago)
        Attempt.objects.filter(delivery_id=old).update(attempted_at=long_ago)
        purge_deliveries()
        assert list(Delivery.objects.values_list("pk", flat=True)) == [recent]
        assert Attempt.objects.filter(delivery_id=recent).count() == 1
        assert Event.objects.filter(deliveries__isnull=True).exists()  # events stay


def test_closing_a_conversation_fans_out_to_subscribers_only_while_enabled(
    api: ApiClient, tenant_a: TenantFixture, receiver: ScriptedServer
) -> None:
    from webhooks.services import update_endpoint

    with tenant_a.schema():
        endpoint = create_endpoint(url=receiver.url, events=["conversation.closed"])
        disabled = create_endpoint(url=receiver.url, events=["*"])
        update_endpoint(disabled.id, enabled=False)
    conversation_id = api.send(tenant_a).json()["id"]
    closed = api.post(f"conversations/{conversation_id}/close", tenant=tenant_a)
    assert closed.status_code == 200, closed.content
    with tenant_a.schema():
        (delivery,) = Delivery.objects.select_related("event")
        assert (delivery.endpoint_id, delivery.event.type) == (endpoint.id, "conversation.closed")
        assert delivery.subject_id == conversation_id
        send_deliveries([str(delivery.pk)])
    payload = verified(endpoint, receiver.received[0])
    assert (payload["data"]["id"], payload["data"]["status"]) == (conversation_id, "closed")


def test_the_largest_message_event_is_under_20_kb(
    api: ApiClient, tenant_a: TenantFixture, receiver: ScriptedServer
) -> None:
    with tenant_a.schema():
        endpoint = create_endpoint(url=receiver.url, events=["conversation.message.failed"])
    answer = api.send(tenant_a, message={"text": "😀" * 4096})
    assert answer.status_code == 201, answer.content
    message_id = answer.json()["message"]["id"]
    with tenant_a.schema():
        report(message_id, "failed")
        send_deliveries(pending_ids())
    (received,) = receiver.received
    assert len(received.body) < 20 * 1024
    assert verified(endpoint, received)["data"]["text"] == "😀" * 4096


def test_an_endpoint_has_at_most_its_cap_in_flight(
    tenant_a: TenantFixture, receiver: ScriptedServer, settings: Any
) -> None:
    settings.ENGIUM_WEBHOOK_ENDPOINT_CONCURRENCY = 1
    with tenant_a.schema():
        endpoint = create_endpoint(url=receiver.url, events=["*"])
        busy, first, second = (_test_delivery(endpoint) for _ in range(3))
        # another worker is sending `busy`: the endpoint has its fill
        lease = timezone.now() + timedelta(minutes=1)
        Delivery.objects.filter(pk=busy).update(claimed_until=lease, next_attempt_at=lease)
        assert send_deliveries([str(first), str(second)]) == 0
        for waiting in Delivery.objects.filter(pk__in=[first, second]):
            # not attempted: left to the sweep, due at once
            assert (waiting.attempts, waiting.dispatched_at) == (0, None)
            assert waiting.next_attempt_at is not None
            assert waiting.next_attempt_at <= timezone.now()
        # once it is free, one at a time: each round sends one, the next round the other
        Delivery.objects.filter(pk=busy).update(claimed_until=None, next_attempt_at=None)
        assert send_deliveries([str(first), str(second)]) == 2
        statuses = set(
            Delivery.objects.filter(pk__in=[first, second]).values_list("status", flat=True)
        )
        assert statuses == {DeliveryStatus.SUCCEEDED}
    assert len(receiver.received) == 2


def test_after_a_failed_attempt_later_events_are_not_held_back(
    api: ApiClient, tenant_a: TenantFixture, receiver: ScriptedServer
) -> None:
    receiver.replies.append(Reply(status=500))
    with tenant_a.schema():
        endpoint = create_endpoint(
            url=receiver.url,
            events=["conversation.message.delivered", "conversation.message.read"],
        )
    message_id = send_first_message(api, tenant_a)
    with tenant_a.schema():
        Message.objects.filter(pk=message_id).update(status=MessageStatus.SENT)
        report(message_id, "delivered")
        delivered = Delivery.objects.get()
        send_deliveries([str(delivered.pk)])  # fails: retried later
        report(message_id, "read")
        read = Delivery.objects.exclude(pk=delivered.pk).get()
        send_deliveries([str(read.pk)])
        assert Delivery.objects.get(pk=read.pk).status == DeliveryStatus.SUCCEEDED
    types = [verified(endpoint, r)["type"] for r in receiver.received]
    assert types == ["conversation.message.delivered", "conversation.message.read"]


def test_one_sweep_publishes_every_tenants_due_work_a_bounded_share_each(
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    receiver: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from webhooks.tasks import sweep_deliveries

    published: dict[str, list[str]] = {}
    monkeypatch.setattr(
        delivery_service.outbox,
        "publish",
        lambda name, *, schema, args, **kw: (
            published.setdefault(schema, []).extend(args[0]) or True
        ),
    )
    monkeypatch.setattr(
        "webhooks.services.dispatch_due_deliveries",
        lambda: delivery_service.dispatch_due_deliveries(limit=3),
    )
    for tenant, backlog in ((tenant_a, 5), (tenant_b, 1)):
        with tenant.schema():
            endpoint = create_endpoint(url=receiver.url, events=["*"])
            for _ in range(backlog):
                Delivery.objects.filter(pk=_test_delivery(endpoint)).update(dispatched_at=None)
    sweep_deliveries()
    # the backlog of A gets its share, and B's delivery goes out in the same sweep
    assert len(published[tenant_a.tenant.schema_name]) == 3
    assert len(published[tenant_b.tenant.schema_name]) == 1


def test_the_sweep_visits_only_the_tenants_with_due_deliveries(
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    receiver: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engium.tenancy import current_schema
    from webhooks.services import schemas_with_due_deliveries
    from webhooks.tasks import sweep_deliveries

    monkeypatch.setattr(delivery_service.outbox, "publish", lambda *a, **kw: True)
    visited: list[str] = []

    def dispatch() -> int:
        visited.append(current_schema())
        return delivery_service.dispatch_due_deliveries()

    monkeypatch.setattr("webhooks.services.dispatch_due_deliveries", dispatch)
    a, b = tenant_a.tenant.schema_name, tenant_b.tenant.schema_name
    with tenant_a.schema():
        endpoint = create_endpoint(url=receiver.url, events=["*"])
        lost = _test_delivery(endpoint)
    with tenant_b.schema():
        endpoint = create_endpoint(url=receiver.url, events=["*"])
        fresh, later = _test_delivery(endpoint), _test_delivery(endpoint)
        # published a moment ago (its task is on its way), and a retry not yet due
        Delivery.objects.filter(pk=later).update(
            next_attempt_at=timezone.now() + timedelta(minutes=5), dispatched_at=None
        )
        assert Delivery.objects.get(pk=fresh).dispatched_at is not None
    with tenant_a.schema():
        # its task was lost: published longer ago than the redispatch delay
        Delivery.objects.filter(pk=lost).update(dispatched_at=timezone.now() - timedelta(minutes=5))

    assert schemas_with_due_deliveries([a, b]) == {a}
    assert sweep_deliveries() == 1
    assert a in visited and b not in visited
    # a retry that is due (dispatched_at NULL) counts as well; the one just published not
    with tenant_b.schema():
        Delivery.objects.filter(pk=later).update(next_attempt_at=timezone.now())
    assert schemas_with_due_deliveries([a, b]) == {b}


def test_a_failed_probe_makes_the_sweep_visit_every_tenant(
    tenant_a: TenantFixture, tenant_b: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engium.tenancy import current_schema
    from webhooks.tasks import sweep_deliveries

    visited: list[str] = []
    monkeypatch.setattr(
        "webhooks.services.dispatch_due_deliveries", lambda: visited.append(current_schema()) or 0
    )

    def broken(schemas: list[str]) -> set[str]:
        raise RuntimeError("a schema without the table")

    monkeypatch.setattr("webhooks.services.schemas_with_due_deliveries", broken)
    sweep_deliveries()
    assert {tenant_a.tenant.schema_name, tenant_b.tenant.schema_name} <= set(visited)
