"""The limiter's leases: a fast process takes places in batches, and the limit stays strict."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache

from engium import ratelimit
from engium.ratelimit import MAX_LEASE, MovingWindowLimiter

PREFIX = f"{settings.CACHES['default']['KEY_PREFIX']}:ratelimit:test"


def _redis() -> Any:
    return cache._cache.get_client(write=True)  # type: ignore[attr-defined]


def _script_calls() -> int:
    stats = _redis().info("commandstats")
    return sum(stats.get(name, {}).get("calls", 0) for name in ("cmdstat_evalsha", "cmdstat_eval"))


def _subject(name: str) -> str:
    return f"{name}-{time.time_ns()}"


def test_a_fast_process_takes_its_places_in_leases_and_counts_every_one() -> None:
    limiter = MovingWindowLimiter(PREFIX)
    subject = _subject("fast")
    calls = _script_calls()

    remaining = [limiter.take(subject, limit=100_000).remaining for _ in range(500)]

    # then: far fewer round trips than requests, the leases grown to their largest
    assert _script_calls() - calls < 500 // MAX_LEASE + 10
    # and every answer counts exactly as if each request had asked Redis
    assert remaining == list(range(99_999, 99_499, -1))
    # and the window holds the requests and the lease's places not handed out yet
    unused = len(limiter._leases[f"{PREFIX}:{subject}"].unused)
    assert limiter.usage(subject) == 500 + unused


def test_a_lease_place_leaves_the_window_no_earlier_than_the_request_using_it() -> None:
    limiter = MovingWindowLimiter(PREFIX)
    subject = _subject("stamped")
    before = _redis().time()
    for _ in range(40):
        assert limiter.take(subject, limit=100_000).accepted
    seconds, micros = before
    asked_ms = int(seconds) * 1000 + int(micros) // 1000

    scores = [score for _, score in _redis().zrange(f"{PREFIX}:{subject}", 0, -1, withscores=True)]
    leased = [score for score in scores if score > asked_ms + 500]
    # then: the places of leases are stamped with the lease's end, a second on
    assert leased
    assert all(score <= _now_ms() + ratelimit.LEASE_SECONDS * 1000 for score in scores)


def _now_ms() -> int:
    seconds, micros = _redis().time()
    return int(seconds) * 1000 + int(micros) // 1000


def test_processes_sharing_a_limit_accept_exactly_the_limit() -> None:
    # given: three processes' limiters (one each), taking turns as a balancer spreads requests
    limiters = [MovingWindowLimiter(PREFIX) for _ in range(3)]
    subject = _subject("shared")
    limit = 3_000
    accepted = 0
    refused_in_a_row = 0
    turn = 0
    while refused_in_a_row < len(limiters):
        permit = limiters[turn % len(limiters)].take(subject, limit=limit)
        turn += 1
        accepted += permit.accepted
        refused_in_a_row = 0 if permit.accepted else refused_in_a_row + 1
        # never more than the limit, whatever the leases hold
        assert accepted <= limit

    # then: every place was used (each process used up its lease, then was refused)
    assert accepted == limit
    assert limiters[0].usage(subject) == limit


def test_near_the_limit_every_request_asks_redis() -> None:
    limiter = MovingWindowLimiter(PREFIX)
    subject = _subject("near")
    limit = 2 * ratelimit.LEASE_SPREAD - 1  # too small to lease
    calls = _script_calls()
    for _ in range(limit):
        assert limiter.take(subject, limit=limit).accepted
    assert not limiter.take(subject, limit=limit).accepted
    assert _script_calls() - calls == limit + 1


def test_a_limit_change_returns_the_leased_places_at_once() -> None:
    limiter = MovingWindowLimiter(PREFIX)
    subject = _subject("changed")
    for _ in range(100):
        assert limiter.take(subject, limit=100_000).accepted
    assert limiter._leases[f"{PREFIX}:{subject}"].unused  # places held

    # when: the tenant's limit drops (support, or a plan change)
    permit = limiter.take(subject, limit=150)

    # then: it counts at once, and the unused places are back: only requests are counted
    assert permit.limit == 150
    assert permit.remaining == 150 - 101
    assert limiter.usage(subject) == 101


def test_a_place_given_back_returns_to_the_lease() -> None:
    limiter = MovingWindowLimiter(PREFIX)
    subject = _subject("given")
    for _ in range(100):
        limiter.take(subject, limit=100_000)
    lease = limiter._leases[f"{PREFIX}:{subject}"]
    held = len(lease.unused)
    permit = limiter.take(subject, limit=100_000)
    calls = _script_calls()

    limiter.give_back(permit)

    # then: no round trip; the next request takes the same place
    assert _script_calls() == calls
    assert len(lease.unused) == held
    assert limiter.take(subject, limit=100_000).member == permit.member


def test_an_unused_lease_is_returned_and_the_next_one_is_smaller(monkeypatch: Any) -> None:
    monkeypatch.setattr(ratelimit, "LEASE_SECONDS", 0.2)
    limiter = MovingWindowLimiter(PREFIX)
    subject = _subject("idle")
    key = f"{PREFIX}:{subject}"
    for _ in range(60):
        limiter.take(subject, limit=100_000)
    wanted = limiter._wanted[key]
    held = len(limiter._leases[key].unused)
    assert held

    # when: the process sends nothing more for the lease's time
    time.sleep(0.3)
    limiter.take(subject, limit=100_000)

    # then: the places it held went back with its next question, and it asks for fewer
    assert limiter.usage(subject) == 61 + len(limiter._leases[key].unused)
    assert limiter._wanted[key] == max(wanted // 2, 1)


@pytest.mark.parametrize("limit", [1, 5, 100])
def test_small_limits_are_never_leased(limit: int) -> None:
    limiter = MovingWindowLimiter(PREFIX)
    subject = _subject("small")
    for _ in range(limit):
        permit = limiter.take(subject, limit=limit)
        assert permit.accepted
        assert limiter.usage(subject) == limit - permit.remaining  # type: ignore[operator]
    assert not limiter.take(subject, limit=limit).accepted


def test_a_single_place_given_back_goes_back_to_redis_not_to_a_later_request() -> None:
    # given: a limit too small to lease, so each place is stamped with its request's time
    limiter = MovingWindowLimiter(PREFIX, window_seconds=2)
    subject = _subject("single")
    permit = limiter.take(subject, limit=3)
    calls = _script_calls()

    # when: the request fails and gives its place back
    limiter.give_back(permit)

    # then: the place left the window (it would otherwise leave it early for a later
    # request), and later requests take places of their own
    assert limiter.usage(subject) == 0
    time.sleep(0.9)
    later = [limiter.take(subject, limit=3) for _ in range(4)]
    assert [p.accepted for p in later] == [True, True, True, False]
    assert permit.member not in {p.member for p in later}
    assert _script_calls() - calls == 4
    time.sleep(1.15)  # 2.05 s after the first take: the later places are still in the window
    assert not limiter.take(subject, limit=3).accepted
