"""The claim (`webhooks.services.delivery._claim`): one statement that locks, orders, caps
and leases a batch of deliveries, and hands what it held back to the sweep."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import TenantFixture
from webhooks.models import Delivery, DeliveryStatus, Endpoint, Event, EventType
from webhooks.services import create_endpoint, raise_event, send_test_event
from webhooks.services.delivery import _claim, _headers, event_body

URL = "http://127.0.0.1:9/hook"  # never called: these tests only claim


def message_event(message: str, status: str) -> dict[str, Any]:
    return {"id": f"msg_claimtest{message:0>14}", "status": status}


def ids_of(*querysets: Any) -> list[int]:
    return sorted(pk for qs in querysets for pk in qs.values_list("pk", flat=True))


def test_a_claim_is_one_statement_and_returns_what_the_post_needs(
    tenant_a: TenantFixture,
) -> None:
    with tenant_a.schema():
        endpoint = create_endpoint(url=URL, events=["*"])
        raise_event(EventType.MESSAGE_DELIVERED, message_event("1", "delivered"))
        raise_event(EventType.MESSAGE_READ, message_event("1", "read"))  # waits for delivered
        raise_event(EventType.MESSAGE_DELIVERED, message_event("2", "delivered"))
        first, read, other = Delivery.objects.order_by("id")
        _claim([first.pk])  # warm: the connection's search_path, and the statement prepared
        Delivery.objects.filter(pk=first.pk).update(
            attempts=0, claimed_until=None, next_attempt_at=timezone.now()
        )

        with CaptureQueriesContext(connection) as queries:
            claimed, held_back = _claim([first.pk, read.pk, other.pk], release_held=True)

        own = [q["sql"] for q in queries.captured_queries]
        assert len(own) == 1, own
        assert [item.delivery.pk for item in claimed] == [first.pk, other.pk]
        assert [(row.pk, row.endpoint_id) for row in held_back] == [(read.pk, endpoint.pk)]
        for item in claimed:
            stored = Delivery.objects.get(pk=item.delivery.pk)
            assert stored.attempts == item.delivery.attempts == 1
            assert stored.claimed_until == item.delivery.claimed_until
            assert stored.claimed_until is not None and stored.claimed_until > timezone.now()
            assert stored.next_attempt_at == stored.dispatched_at == stored.claimed_until
            # the endpoint with its secrets decrypted, the event and its body
            assert item.endpoint.url == URL
            assert item.endpoint.secrets == endpoint.secrets
            assert item.endpoint.failing_since is None
            assert item.event == Event.objects.get(pk=stored.event_id)
            assert item.event.data == Event.objects.get(pk=stored.event_id).data
            assert item.body == event_body(Event.objects.get(pk=stored.event_id))
            assert _headers(item)["webhook-id"] == stored.event_id
        # held back: untouched but for its task, which is now the sweep's
        read.refresh_from_db()
        assert (read.attempts, read.claimed_until, read.dispatched_at) == (0, None, None)


def test_held_back_deliveries_keep_their_task_unless_released(tenant_a: TenantFixture) -> None:
    with tenant_a.schema():
        create_endpoint(url=URL, events=["*"])
        raise_event(EventType.MESSAGE_DELIVERED, message_event("3", "delivered"))
        raise_event(EventType.MESSAGE_READ, message_event("3", "read"))
        first, read = Delivery.objects.order_by("id")
        claimed, held_back = _claim([first.pk, read.pk])
        assert [item.delivery.pk for item in claimed] == [first.pk]
        assert [row.pk for row in held_back] == [read.pk]
        read.refresh_from_db()
        assert read.dispatched_at is not None  # the caller decides (send_deliveries' rounds)


def test_the_cap_counts_live_leases_per_endpoint_and_an_expired_lease_is_claimed_again(
    tenant_a: TenantFixture, settings: Any
) -> None:
    settings.ENGIUM_WEBHOOK_ENDPOINT_CONCURRENCY = 2
    with tenant_a.schema():
        busy_endpoint = create_endpoint(url=URL, events=["*"])
        quiet_endpoint = create_endpoint(url=URL + "2", events=["*"])
        # a worker died holding `dead`: its lease ran out before any outcome was recorded
        dead, a1, a2 = (send_test_event(busy_endpoint.id).pk for _ in range(3))
        b1 = send_test_event(quiet_endpoint.id).pk
        expired = timezone.now() - timedelta(seconds=1)
        Delivery.objects.filter(pk=dead).update(
            attempts=1, claimed_until=expired, next_attempt_at=expired, dispatched_at=expired
        )
        dead_event = Delivery.objects.get(pk=dead).event_id

        claimed, held_back = _claim([dead, a1, a2, b1], release_held=True)

        # the expired lease does not count; two per endpoint, oldest first
        assert sorted(item.delivery.pk for item in claimed) == sorted([dead, a1, b1])
        assert [row.pk for row in held_back] == [a2]
        again = next(item for item in claimed if item.delivery.pk == dead)
        assert again.delivery.attempts == 2
        assert _headers(again)["webhook-id"] == dead_event  # at-least-once, same webhook-id

        # the endpoint now has its fill of live leases: nothing more until one is recorded
        claimed, held_back = _claim([a2], release_held=True)
        assert (claimed, [row.pk for row in held_back]) == ([], [a2])
        # finished deliveries never count, however many the endpoint has
        Delivery.objects.filter(pk__in=[dead, a1]).update(
            status=DeliveryStatus.SUCCEEDED, claimed_until=None, next_attempt_at=None
        )
        claimed, held_back = _claim([a2])
        assert ([item.delivery.pk for item in claimed], held_back) == ([a2], [])


def test_not_due_disabled_or_finished_deliveries_are_neither_claimed_nor_held(
    tenant_a: TenantFixture,
) -> None:
    with tenant_a.schema():
        endpoint = create_endpoint(url=URL, events=["*"])
        disabled = create_endpoint(url=URL, events=["*"])
        later, done, parked = (send_test_event(endpoint.id).pk for _ in range(3))
        off = send_test_event(disabled.id).pk
        Endpoint.objects.filter(pk=disabled.pk).update(enabled=False)
        Delivery.objects.filter(pk=later).update(
            next_attempt_at=timezone.now() + timedelta(minutes=5)
        )
        Delivery.objects.filter(pk=done).update(status=DeliveryStatus.SUCCEEDED)
        Delivery.objects.filter(pk=parked).update(next_attempt_at=None)

        assert _claim([later, done, parked, off], release_held=True) == ([], [])
        assert Delivery.objects.filter(attempts__gt=0).count() == 0


def test_a_delivery_another_worker_is_claiming_is_skipped(committed: TenantFixture) -> None:
    with committed.schema():
        endpoint = create_endpoint(url=URL, events=["*"])
        locked, free = (send_test_event(endpoint.id).pk for _ in range(2))
    holding, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with committed.schema(), transaction.atomic():
                Delivery.objects.select_for_update().get(pk=locked)
                holding.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert holding.wait(30)
        with committed.schema():
            claimed, held_back = _claim([locked, free], release_held=True)
            assert ([item.delivery.pk for item in claimed], held_back) == ([free], [])
            assert Delivery.objects.get(pk=locked).attempts == 0
    finally:
        release.set()
        thread.join(30)


def test_concurrent_claims_of_one_batch_lease_each_delivery_once(
    committed: TenantFixture, settings: Any
) -> None:
    settings.ENGIUM_WEBHOOK_ENDPOINT_CONCURRENCY = 1000
    with committed.schema():
        endpoints = [create_endpoint(url=URL, events=["*"]) for _ in range(3)]
        ids = [send_test_event(endpoints[n % 3].id).pk for n in range(60)]
    results: list[list[int]] = []
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            with committed.schema():
                start.wait(30)
                claimed, _ = _claim(ids, release_held=True)
                results.append([item.delivery.pk for item in claimed])
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    taken = [pk for result in results for pk in result]
    assert len(results) == 4
    assert sorted(taken) == sorted(ids)  # each once: whoever locked it first leased it
    with committed.schema():
        attempts = dict(Delivery.objects.filter(pk__in=taken).values_list("pk", "attempts"))
    assert set(attempts.values()) <= {1}
