"""Sends are limited per tenant over any 60 s, by plan or by the tenant's own limit."""

from __future__ import annotations

import time
from typing import Any

import pytest

from conversations.models import Message
from engium.ratelimit import MovingWindowLimiter
from tenants.models import Plan
from tests.conftest import ApiClient, TenantFixture, error_of, make_tenant

pytestmark = pytest.mark.django_db


def _messages(tenant: TenantFixture) -> int:
    with tenant.schema():
        return Message.objects.count()


def test_a_free_tenant_gets_exactly_100_sends_and_a_clear_429_after(api: ApiClient) -> None:
    tenant = make_tenant("Free plan", plan=Plan.FREE, channels=("sms",))

    # when: 100 sends within the minute
    remaining = []
    for index in range(100):
        answer = api.send(tenant, channel="sms", recipient=f"+1555010{index:04d}")
        assert answer.status_code == 201, answer.content
        assert answer["X-RateLimit-Limit"] == "100"
        remaining.append(int(answer["X-RateLimit-Remaining"]))
        assert 1 <= int(answer["X-RateLimit-Reset"]) <= 60
    assert remaining == list(range(99, -1, -1))

    # then: the 101st is refused, says when to retry, and creates nothing
    refused = api.send(tenant, channel="sms", recipient="+15550109999")
    assert refused.status_code == 429
    error = error_of(refused)
    assert error["code"] == "rate_limited"
    assert "100 messages per minute" in error["message"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["X-RateLimit-Remaining"] == "0"
    assert refused["X-RateLimit-Limit"] == "100"
    assert _messages(tenant) == 100


def test_a_refused_or_failed_send_does_not_use_up_the_limit(api: ApiClient) -> None:
    tenant = make_tenant("Small limit", channels=("sms",))
    tenant.tenant.rate_limit = 3
    tenant.tenant.save()

    # given: two sends that fail validation (they carry the headers too)
    for _ in range(2):
        bad = api.send(tenant, channel="sms", recipient="12")
        assert bad.status_code == 400
        assert bad["X-RateLimit-Limit"] == "3"
    no_channel = api.send(tenant, channel="voice")
    assert error_of(no_channel)["code"] == "channel_not_configured"

    # then: all three places are still there
    for index in range(3):
        assert (
            api.send(tenant, channel="sms", recipient=f"+155501081{index:02d}").status_code == 201
        )
    assert api.send(tenant, channel="sms", recipient="+15550108199").status_code == 429


def test_a_tenants_own_limit_overrides_its_plan_at_once(api: ApiClient) -> None:
    tenant = make_tenant("Contract", plan=Plan.PRO, channels=("sms",))
    first = api.send(tenant, channel="sms", recipient="+15550108201")
    assert first["X-RateLimit-Limit"] == "2000"

    # when: support sets the tenant's own limit (as Django admin does)
    tenant.tenant.rate_limit = 2
    tenant.tenant.save()

    # then: the next send counts against it
    second = api.send(tenant, channel="sms", recipient="+15550108202")
    assert second["X-RateLimit-Limit"] == "2"
    assert second["X-RateLimit-Remaining"] == "0"
    assert api.send(tenant, channel="sms", recipient="+15550108203").status_code == 429

    # and a plan change takes effect at once too
    tenant.tenant.rate_limit = None
    tenant.tenant.plan = Plan.STARTER
    tenant.tenant.save()
    assert api.send(tenant, channel="sms", recipient="+15550108204")["X-RateLimit-Limit"] == "500"


def test_tenants_are_limited_separately(api: ApiClient, tenant_b: TenantFixture) -> None:
    tenant = make_tenant("Busy", channels=("sms",))
    tenant.tenant.rate_limit = 1
    tenant.tenant.save()
    assert api.send(tenant, channel="sms").status_code == 201
    assert api.send(tenant, channel="sms").status_code == 429
    assert api.send(tenant_b, channel="sms").status_code == 201


def test_a_redis_outage_fails_open_with_a_warning(
    api: ApiClient, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = make_tenant("Outage", channels=("sms",))
    tenant.tenant.rate_limit = 1
    tenant.tenant.save()
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:9/0"}
    }

    # then: sends go on (no 500, no silent stop), without the headers that are unknown
    for recipient in ("+15550108301", "+15550108302"):
        answer = api.send(tenant, channel="sms", recipient=recipient)
        assert answer.status_code == 201, answer.content
        assert answer["X-RateLimit-Limit"] == "1"
        assert "X-RateLimit-Remaining" not in answer
    assert any("rate limiter unavailable" in r.getMessage() for r in caplog.records)


def test_the_window_moves() -> None:
    from django.conf import settings

    limiter = MovingWindowLimiter(
        f"{settings.CACHES['default']['KEY_PREFIX']}:ratelimit:test", window_seconds=1
    )
    subject = f"moving-{time.time_ns()}"
    assert limiter.take(subject, limit=2).accepted
    assert limiter.take(subject, limit=2).accepted
    refused = limiter.take(subject, limit=2)
    assert not refused.accepted and refused.remaining == 0 and refused.reset_seconds == 1
    time.sleep(1.1)  # the window has passed: the oldest requests left it
    again = limiter.take(subject, limit=2)
    assert again.accepted and again.remaining == 1


def test_usage_counts_the_window_without_taking_a_place() -> None:
    from django.conf import settings

    limiter = MovingWindowLimiter(
        f"{settings.CACHES['default']['KEY_PREFIX']}:ratelimit:test", window_seconds=60
    )
    subject = f"usage-{time.time_ns()}"
    assert limiter.usage(subject) == 0
    for _ in range(3):
        assert limiter.take(subject, limit=3).accepted
    assert limiter.usage(subject) == 3
    assert limiter.usage(subject) == 3  # asking took nothing
    assert not limiter.take(subject, limit=3).accepted  # a refusal is not counted either
    assert limiter.usage(subject) == 3


def test_an_answer_left_unread_never_reaches_the_next_request() -> None:
    from django.conf import settings

    limiter = MovingWindowLimiter(
        f"{settings.CACHES['default']['KEY_PREFIX']}:ratelimit:test", window_seconds=60
    )
    subject = f"unread-{time.time_ns()}"

    # given: a request that asked and was cut short before reading the answer (it took the
    # only place: Redis ran the script)
    limiter.ask(subject, limit=1)

    # then: the next request gets its own answer, not the one left on the connection
    refused = limiter.take(subject, limit=1)
    assert not refused.accepted and refused.remaining == 0
    assert limiter.usage(subject) == 1


def test_a_connection_closed_by_redis_is_replaced_without_failing_open() -> None:
    from django.conf import settings
    from django.core.cache import cache

    limiter = MovingWindowLimiter(
        f"{settings.CACHES['default']['KEY_PREFIX']}:ratelimit:test", window_seconds=60
    )
    subject = f"closed-{time.time_ns()}"
    assert limiter.take(subject, limit=5).remaining == 4
    connection = limiter._own._local.connection
    connection.send_command("CLIENT", "ID")
    client_id = connection.read_response()

    # when: Redis closes the thread's connection (a restart, an idle timeout)
    cache._cache.get_client(write=True).client_kill_filter(_id=client_id)

    # then: the next request is counted on a new connection, not let through unlimited
    permit = limiter.take(subject, limit=5)
    assert permit.accepted and permit.remaining == 3
    assert limiter.usage(subject) == 2
