"""A moving-window rate limiter shared by every process, in one Redis round trip per lease.

Each limited subject (a tenant's sends) has a sorted set of its places taken over the last
window. One Lua script drops the entries older than the window, counts the rest and, below
the limit, adds places, atomically and on Redis's clock (web hosts' clocks never disagree
about it). So no more than ``limit`` places are taken in any window of ``window_seconds``,
however many processes ask at once.

**Leases.** A process that sends fast takes several places in one round trip (a lease)
and hands them to its next requests for the subject, for at most `LEASE_SECONDS`; a process
that sends slowly asks for one place per request. The lease grows while the process uses
its places up within that time (doubling, to `MAX_LEASE`) and halves when places are left
over. Its size is bounded by what is left of the window too (a sixty-fourth of it, so a
limit under 128 is never leased): near the limit every request asks Redis for its own
place. The limit stays strict: the places of a lease are stamped with the time it ends, so
each leaves the window no earlier than 60 s after the request that used it. What a lease
costs is places held and not used: a process returns what it did not use with its next
question to Redis (in the same script call), or, if it takes no further request for the
subject, they leave the window 61 s after the lease. A limit or plan change drops the
lease at the next request (its places are returned), so it counts at once.

Redis being unreachable must not turn into 500s nor into a silent stop of every send: the
limiter then **fails open**, accepts, and logs a warning at most once a minute per process
(docs/api.md#rate-limits).

**Cost on the send's path.** `ask` takes a leased place (no I/O), or writes the script's
call (``EVALSHA``, packed once but for its arguments) on a connection of the calling
thread's own and returns at once; its `Pending.result` reads the answer. The send asks
first and reads the answer just before its first SQL statement
(`conversations.views.SendMessageView`), so the round trip overlaps the validation and the
rendering of the statement's values. The thread's connection skips redis-py's pool and
retry machinery (about half of the limiter's CPU per request); it follows the cache's
settings (a changed ``CACHES`` gets a new connection), and a reply left unread (a request
cut short between ask and result) closes it, so an answer is never read by the wrong
request.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from engium.cache import OwnConnection, bulk

logger = logging.getLogger(__name__)

#: How long a lease's places may be handed out, and the most places one lease takes.
LEASE_SECONDS = 1.0
MAX_LEASE = 32
#: A lease takes at most this fraction of what is left of the window (1 / LEASE_SPREAD).
LEASE_SPREAD = 64

# KEYS[1]: the subject's sorted set. ARGV: window (ms), limit, the places' name prefix,
# places wanted, lease (ms), then places to return (a lease's unused ones).
# Returns {places taken (0: refused), places in the window after, ms until the oldest leaves}.
_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local want = tonumber(ARGV[4])
local lease = tonumber(ARGV[5])
if #ARGV > 5 then
    redis.call('ZREM', KEYS[1], unpack(ARGV, 6))
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local taken = 0
if count < limit then
    taken = math.min(want, math.max(1, math.floor((limit - count) / LEASE_SPREAD)))
    -- A lease's places leave the window no earlier than those of the requests using them.
    local score = now
    if taken > 1 then
        score = now + lease
    end
    local entries = {}
    for i = 1, taken do
        entries[2 * i - 1] = score
        entries[2 * i] = ARGV[3] .. ':' .. i
    end
    redis.call('ZADD', KEYS[1], unpack(entries))
    redis.call('PEXPIRE', KEYS[1], window + lease)
    count = count + taken
end
local reset = window
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
    reset = tonumber(oldest[2]) + window - now
end
return {taken, count, reset}
""".replace("LEASE_SPREAD", str(LEASE_SPREAD))

_SCRIPT_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()  # noqa: S324 (Redis names scripts so)

_WARN_EVERY_SECONDS = 60.0


def _evalsha(args: tuple[str, ...]) -> bytes:
    return b"*%d\r\n" % (3 + len(args)) + _EVALSHA_HEAD + b"".join(bulk(arg) for arg in args)


#: ``EVALSHA <sha> 1``: what every call starts with; then the key and ARGV (`bulk` each).
_EVALSHA_HEAD = bulk("EVALSHA") + bulk(_SCRIPT_SHA) + bulk("1")


@dataclass(frozen=True)
class Permit:
    """The limiter's answer for one request."""

    accepted: bool
    limit: int
    remaining: int | None  # None when the limiter could not be asked (Redis down)
    reset_seconds: int | None  # whole seconds until a request leaves the window
    key: str = ""
    member: str = ""

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-*``: the limit always; the rest when they are known."""
        headers = {"X-RateLimit-Limit": str(self.limit)}
        if self.remaining is not None and self.reset_seconds is not None:
            headers["X-RateLimit-Remaining"] = str(self.remaining)
            headers["X-RateLimit-Reset"] = str(self.reset_seconds)
        return headers


class _Lease:
    """Places of one subject taken in one round trip, for this process's next requests."""

    __slots__ = ("count", "expires", "limit", "prefix", "reset_at", "stamped_at_end", "unused")

    def __init__(
        self, *, limit: int, prefix: str, unused: list[str], count: int, reset_ms: int, asked: float
    ) -> None:
        now = time.monotonic()
        self.limit = limit
        self.prefix = prefix
        # Several places are stamped with the lease's end; a single one with its request's
        # time, so it cannot be handed out again later (`give_back`).
        self.stamped_at_end = len(unused) > 1
        self.unused = unused  # its places not handed out yet (taken from the end)
        self.count = count  # the window's places, this lease's included, when it was taken
        # From the question, which went before Redis stamped the places: none is handed out
        # later than its stamp.
        self.expires = asked + LEASE_SECONDS
        self.reset_at = now + reset_ms / 1000

    def permit(self, key: str, member: str) -> Permit:
        """The answer for a request that takes ``member``: the window as Redis counted it,
        with this lease's places not handed out yet as left."""
        return Permit(
            accepted=True,
            limit=self.limit,
            remaining=max(self.limit - self.count + len(self.unused), 0),
            reset_seconds=max(math.ceil(self.reset_at - time.monotonic()), 1),
            key=key,
            member=member,
        )


class MovingWindowLimiter:
    def __init__(self, prefix: str, *, window_seconds: int = 60) -> None:
        self.prefix = prefix
        self.window_ms = window_seconds * 1000
        self._own = OwnConnection()
        self._last_warning = -_WARN_EVERY_SECONDS
        self._lock = threading.Lock()
        self._leases: dict[str, _Lease] = {}  # by key
        self._wanted: dict[str, int] = {}  # by key: the size of the next lease
        self._returning: dict[str, list[str]] = {}  # by key: places to give back

    def take(self, subject: str, *, limit: int) -> Permit:
        """Count one request of ``subject`` if it is under ``limit``; never raises."""
        return self.ask(subject, limit=limit).result()

    def ask(self, subject: str, *, limit: int) -> Pending:
        """Send `take`'s question to Redis and return at once; `Pending.result` answers it.

        Between the two the caller may do other work, but nothing that can fail without
        reaching `result` (a reply left unread closes the connection: see the module's
        docstring). Never raises. A place of this process's lease answers at once.
        """
        key = f"{self.prefix}:{subject}"
        with self._lock:
            lease = self._leases.get(key)
            if lease is not None:
                if lease.unused and lease.limit == limit and time.monotonic() < lease.expires:
                    return Pending.answered(self, lease.permit(key, lease.unused.pop()))
                self._end(key, lease, limit=limit)
            wanted = self._wanted.get(key, 1)
            returning = self._returning.pop(key, [])
        asked = time.monotonic()
        prefix = f"{time.time_ns()}-{secrets.token_hex(4)}"
        args = (
            key,
            str(self.window_ms),
            str(limit),
            prefix,
            str(wanted),
            str(round(LEASE_SECONDS * 1000)),
            *returning,
        )
        try:
            try:
                connection = self._own.send(_evalsha(args))
            except RedisConnectionError:  # closed under us (a restart): once more, anew
                connection = self._own.send(_evalsha(args))
        except (RedisError, OSError):
            self._unreturned(key, returning)
            self._warn_unavailable()
            unknown = Permit(accepted=True, limit=limit, remaining=None, reset_seconds=None)
            return Pending.answered(self, unknown)
        return Pending(self, connection, args, limit, asked)

    def _end(self, key: str, lease: _Lease, *, limit: int) -> None:
        """Drop ``lease`` (under the lock): its unused places go back with the next question,
        and the next lease is sized by how this one went (``limit``: the limit now)."""
        del self._leases[key]
        wanted = self._wanted.get(key, 1)
        if lease.unused:
            self._returning.setdefault(key, []).extend(lease.unused)
            lease.unused = []
            if lease.limit == limit:  # places left over in its time: ask for fewer
                self._wanted[key] = max(wanted // 2, 1)
        elif time.monotonic() < lease.expires:  # all used within its time: ask for more
            self._wanted[key] = min(wanted * 2, MAX_LEASE)

    def _unreturned(self, key: str, members: list[str]) -> None:
        """Places that could not be returned: returned with the next question."""
        if members:
            with self._lock:
                self._returning.setdefault(key, []).extend(members)

    def _answer(self, connection: Any, args: tuple[str, ...], limit: int, asked: float) -> Permit:
        """Read the answer to `ask` (`Pending.result`); fails open."""
        key, _, _, prefix, _, _, *returning = args
        try:
            try:
                reply = self._own.read(connection)
            except RedisConnectionError:
                # The connection was closed before the question reached Redis (a restart,
                # an idle timeout; redis-py's client retries these too): ask once more.
                reply = self._ask_again(args)
            except NoScriptError:
                reply = self._eval(args)
            taken, count, reset_ms = (int(value) for value in reply)
        except (RedisError, OSError, ValueError, TypeError):
            self._unreturned(key, returning)
            self._warn_unavailable()
            return Permit(accepted=True, limit=limit, remaining=None, reset_seconds=None)
        if not taken:
            return Permit(
                accepted=False,
                limit=limit,
                remaining=max(limit - count, 0),
                reset_seconds=max(math.ceil(reset_ms / 1000), 1),
            )
        lease = _Lease(
            limit=limit,
            prefix=prefix,
            unused=[f"{prefix}:{place}" for place in range(taken, 0, -1)],
            count=count,
            reset_ms=reset_ms,
            asked=asked,
        )
        member = lease.unused.pop()
        with self._lock:  # kept when spent too: when its time ends, it sizes the next
            earlier = self._leases.get(key)
            if earlier is not None:  # another thread's, taken meanwhile
                self._end(key, earlier, limit=limit)
            self._leases[key] = lease
        return lease.permit(key, member)

    def _ask_again(self, args: tuple[str, ...]) -> Any:
        try:
            return self._own.read(self._own.send(_evalsha(args)))
        except NoScriptError:  # a restarted Redis has no scripts yet
            return self._eval(args)

    def _eval(self, args: tuple[str, ...]) -> Any:
        """EVAL: runs the script and caches it (Redis restarted or flushed since)."""
        parts = ("EVAL", _SCRIPT, "1", *args)
        packed = b"*%d\r\n" % len(parts) + b"".join(bulk(part) for part in parts)
        return self._own.read(self._own.send(packed))

    def usage(self, subject: str) -> int | None:
        """Places of ``subject`` in the current window, taking none (None: Redis down):
        the requests accepted, and the places leased to web processes not used yet.

        Entries older than the window may linger until the next `take` trims them: they
        are counted out by score, on Redis's clock.
        """
        key = f"{self.prefix}:{subject}"
        try:
            client = self._client()
            seconds, micros = client.time()
            now_ms = int(seconds) * 1000 + int(micros) // 1000
            return int(client.zcount(key, now_ms - self.window_ms + 1, "+inf"))
        except (RedisError, OSError):
            self._warn_unavailable()
            return None

    def give_back(self, permit: Permit) -> None:
        """Return an accepted request's place (the request failed and created nothing): to
        this process's lease if it is still running and its places carry its end's stamp
        (another request may use it then), else to Redis."""
        if not permit.member:
            return
        with self._lock:
            lease = self._leases.get(permit.key)
            if (
                lease is not None
                and lease.stamped_at_end
                and permit.member.startswith(f"{lease.prefix}:")
                and time.monotonic() < lease.expires
            ):
                lease.unused.append(permit.member)
                return
        try:
            self._client().zrem(permit.key, permit.member)
        except (RedisError, OSError):
            self._warn_unavailable()

    def _client(self) -> Any:
        return cache._cache.get_client(write=True)  # type: ignore[attr-defined]

    def _warn_unavailable(self) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_SECONDS:
            self._last_warning = now
            logger.warning(
                "rate limiter unavailable (Redis unreachable): requests are accepted unlimited",
                exc_info=True,
            )


class Pending:
    """A `MovingWindowLimiter.ask` on its way; `result` reads the answer (once)."""

    __slots__ = ("_args", "_asked", "_connection", "_limit", "_limiter", "_permit")

    def __init__(
        self,
        limiter: MovingWindowLimiter,
        connection: Any,
        args: tuple[str, ...],
        limit: int,
        asked: float = 0.0,
        permit: Permit | None = None,
    ) -> None:
        self._limiter = limiter
        self._asked = asked
        self._connection = connection
        self._args = args
        self._limit = limit
        self._permit = permit

    def result(self) -> Permit:
        if self._permit is None:
            self._permit = self._limiter._answer(
                self._connection, self._args, self._limit, self._asked
            )
        return self._permit

    @classmethod
    def answered(cls, limiter: MovingWindowLimiter, permit: Permit) -> Pending:
        """An answer known without asking Redis."""
        return cls(limiter, None, (), permit.limit, permit=permit)
