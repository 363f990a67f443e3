"""A moving-window rate limiter shared by every process, in one Redis round trip.

Each limited subject (a tenant's sends) has a sorted set of the times of its accepted
requests over the last window. One Lua script drops the entries older than the window,
counts the rest and, below the limit, adds this request, atomically and on Redis's clock
(web hosts' clocks never disagree about it). So exactly ``limit`` requests are accepted in
any window of ``window_seconds``, however many processes ask at once.

Redis being unreachable must not turn into 500s nor into a silent stop of every send: the
limiter then **fails open**, accepts, and logs a warning at most once a minute per process
(docs/api.md#rate-limits).

**Cost on the send's path.** `ask` writes the script's call (``EVALSHA``, packed once but
for its arguments) on a connection of the calling thread's own and returns at once; its
`Pending.result` reads the answer. The send asks first and reads the answer just before its
first SQL statement (`conversations.views.SendMessageView`), so the round trip overlaps the
validation and the rendering of the statement's values. The thread's connection
skips redis-py's pool and retry machinery (about half of the limiter's CPU per request);
it follows the cache's settings (a changed ``CACHES`` gets a new connection), and a reply
left unread (a request cut short between ask and result) closes it, so an answer is never
read by the wrong request.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from engium.cache import OwnConnection, bulk

logger = logging.getLogger(__name__)

# KEYS[1]: the subject's sorted set. ARGV: window (ms), limit, a unique member.
# Returns {accepted (0/1), requests in the window after this one, ms until the oldest leaves}.
_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local accepted = 0
if count < limit then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    redis.call('PEXPIRE', KEYS[1], window)
    count = count + 1
    accepted = 1
end
local reset = window
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
    reset = tonumber(oldest[2]) + window - now
end
return {accepted, count, reset}
"""

_SCRIPT_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()  # noqa: S324 (Redis names scripts so)

_WARN_EVERY_SECONDS = 60.0


def _evalsha(args: tuple[str, ...]) -> bytes:
    return _EVALSHA_HEAD + b"".join(bulk(arg) for arg in args)


#: ``EVALSHA <sha> 1``: what every call starts with; then the key and ARGV (`bulk` each).
_EVALSHA_HEAD = b"*7\r\n" + bulk("EVALSHA") + bulk(_SCRIPT_SHA) + bulk("1")


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


class MovingWindowLimiter:
    def __init__(self, prefix: str, *, window_seconds: int = 60) -> None:
        self.prefix = prefix
        self.window_ms = window_seconds * 1000
        self._own = OwnConnection()
        self._last_warning = -_WARN_EVERY_SECONDS

    def take(self, subject: str, *, limit: int) -> Permit:
        """Count one request of ``subject`` if it is under ``limit``; never raises."""
        return self.ask(subject, limit=limit).result()

    def ask(self, subject: str, *, limit: int) -> Pending:
        """Send `take`'s question to Redis and return at once; `Pending.result` answers it.

        Between the two the caller may do other work, but nothing that can fail without
        reaching `result` (a reply left unread closes the connection: see the module's
        docstring). Never raises.
        """
        key = f"{self.prefix}:{subject}"
        member = f"{time.time_ns()}-{secrets.token_hex(4)}"
        args = (key, str(self.window_ms), str(limit), member)
        try:
            try:
                connection = self._own.send(_evalsha(args))
            except RedisConnectionError:  # closed under us (a restart): once more, anew
                connection = self._own.send(_evalsha(args))
        except (RedisError, OSError):
            self._warn_unavailable()
            unknown = Permit(accepted=True, limit=limit, remaining=None, reset_seconds=None)
            return Pending.answered(self, unknown)
        return Pending(self, connection, args, limit)

    def _answer(self, connection: Any, args: tuple[str, ...], limit: int) -> Permit:
        """Read the answer to `ask` (`Pending.result`); fails open."""
        key, _, _, member = args
        try:
            try:
                reply = self._own.read(connection)
            except RedisConnectionError:
                # The connection was closed before the question reached Redis (a restart,
                # an idle timeout; redis-py's client retries these too): ask once more.
                reply = self._ask_again(args)
            except NoScriptError:
                reply = self._eval(args)
            accepted, count, reset_ms = reply
        except (RedisError, OSError, ValueError, TypeError):
            self._warn_unavailable()
            return Permit(accepted=True, limit=limit, remaining=None, reset_seconds=None)
        return Permit(
            accepted=bool(accepted),
            limit=limit,
            remaining=max(limit - int(count), 0),
            reset_seconds=max(math.ceil(int(reset_ms) / 1000), 1),
            key=key if accepted else "",
            member=member if accepted else "",
        )

    def _ask_again(self, args: tuple[str, ...]) -> Any:
        try:
            return self._own.read(self._own.send(_evalsha(args)))
        except NoScriptError:  # a restarted Redis has no scripts yet
            return self._eval(args)

    def _eval(self, args: tuple[str, ...]) -> Any:
        """EVAL: runs the script and caches it (Redis restarted or flushed since)."""
        packed = b"*7\r\n" + b"".join(bulk(part) for part in ("EVAL", _SCRIPT, "1", *args))
        return self._own.read(self._own.send(packed))

    def usage(self, subject: str) -> int | None:
        """Requests of ``subject`` in the current window, counting none (None: Redis down).

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
        """Return an accepted request's place (the request failed and created nothing)."""
        if not permit.member:
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

    __slots__ = ("_args", "_connection", "_limit", "_limiter", "_permit")

    def __init__(
        self,
        limiter: MovingWindowLimiter,
        connection: Any,
        args: tuple[str, ...],
        limit: int,
        permit: Permit | None = None,
    ) -> None:
        self._limiter = limiter
        self._connection = connection
        self._args = args
        self._limit = limit
        self._permit = permit

    def result(self) -> Permit:
        if self._permit is None:
            self._permit = self._limiter._answer(self._connection, self._args, self._limit)
        return self._permit

    @classmethod
    def answered(cls, limiter: MovingWindowLimiter, permit: Permit) -> Pending:
        """An answer known without asking Redis."""
        return cls(limiter, None, (), permit.limit, permit)
