"""Django's Redis cache, made cheaper and fault-tolerant.

* One client per connection pool: Django's backend builds a new ``redis.Redis`` per
  operation, and redis-py 8 fills a table of ~170 response callbacks in every constructor
  (~0.3 ms per cache call on the send path). A client is thread-safe, so one is enough.
* A cache is an optimisation: when Redis is unreachable, reads miss and writes are
  dropped (logged), so the API falls back to the database instead of answering 500.
* `OwnConnection`: for the one or two Redis commands of every send (the rate limiter, the
  outbox's coalescing), a connection of the calling thread's own, without redis-py's pool,
  retries and response callbacks, which cost as much again as the command; it parses the
  short replies itself (`parse_reply`), for a fraction of redis-py's parser's cost.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.core.signals import setting_changed
from django.dispatch import receiver
from redis._parsers.base import BaseParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class PooledRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        base: Any = self  # Django's private helpers, untyped in django-stubs
        index = base._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = base._client(connection_pool=base._get_connection_pool(write))
            self._clients[index] = client
        return client


def _tolerant(name: str, fallback: Any) -> Any:
    method = getattr(DjangoRedisCache, name)

    def call(self: DjangoRedisCache, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except _UNAVAILABLE:
            logger.warning("cache unavailable; %s skipped", name, exc_info=True)
            return fallback(*args, **kwargs) if callable(fallback) else fallback

    call.__name__ = name
    return call


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = PooledRedisCacheClient

    get = _tolerant("get", lambda key, default=None, version=None: default)
    get_many = _tolerant("get_many", {})
    set = _tolerant("set", None)
    add = _tolerant("add", False)
    set_many = _tolerant("set_many", lambda data, *args, **kwargs: list(data))
    delete = _tolerant("delete", False)
    delete_many = _tolerant("delete_many", None)
    has_key = _tolerant("has_key", False)
    touch = _tolerant("touch", False)


class HotCache:
    """Small, hot entries (tenants, keys, routing): a per-process memo in front of Redis.

    The memo keeps an entry ``ENGIUM_LOCAL_CACHE_SECONDS`` (1 s by default), which takes a
    Redis round trip off nearly every API request. `delete` clears this process's memo at
    once and Redis for everyone; other processes notice within the memo's lifetime.
    """

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._memo: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def _seconds(self) -> float:
        return float(settings.ENGIUM_LOCAL_CACHE_SECONDS)

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        now = time.monotonic()
        found: dict[str, Any] = {}
        with self._lock:
            for key in keys:
                entry = self._memo.get(key)
                if entry is not None and entry[0] > now:
                    found[key] = entry[1]
        missing = [key for key in keys if key not in found]
        if missing:
            fetched = cache.get_many(missing)
            self._remember(fetched)
            found.update(fetched)
        return found

    def get(self, key: str) -> Any:
        return self.get_many([key]).get(key)

    def set(self, key: str, value: Any, timeout: float) -> None:
        cache.set(key, value, timeout)
        self._remember({key: value})

    def delete(self, key: str) -> None:
        with self._lock:
            self._memo.pop(key, None)
        cache.delete(key)

    def delete_many(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._memo.pop(key, None)
        cache.delete_many(keys)

    def clear_local(self) -> None:
        with self._lock:
            self._memo.clear()

    def _remember(self, entries: dict[str, Any]) -> None:
        seconds = self._seconds()
        if seconds <= 0 or not entries:
            return
        expires = time.monotonic() + seconds
        with self._lock:
            if len(self._memo) + len(entries) > self.MAX_ENTRIES:
                self._memo.clear()
            for key, value in entries.items():
                self._memo[key] = (expires, value)


hot_cache = HotCache()


#: Counts changes of the ``CACHES`` setting (tests): `OwnConnection` follows them.
_caches_generation = 0


@receiver(setting_changed)
def _follow_caches(*, setting: str, **kwargs: Any) -> None:
    global _caches_generation
    if setting == "CACHES":
        _caches_generation += 1


def bulk(value: str | bytes) -> bytes:
    """One RESP bulk string (to pack a command once but for its arguments)."""
    data = value.encode() if isinstance(value, str) else value
    return b"$%d\r\n%s\r\n" % (len(data), data)


class OwnConnection:
    """A connection to the default cache's Redis for each thread, for a hot path's commands.

    `send` writes a packed command and returns at once; `read` reads its reply (so a round
    trip can overlap other work). It is made on first use, and again after a fork, a change
    of ``CACHES``, a failure, or a reply left unread (a caller cut short between the two):
    a reply is never read by the wrong caller. Errors are redis-py's, as its client raises
    them; callers fail open.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def send(self, packed: bytes) -> Any:
        local = self._local
        connection = getattr(local, "connection", None)
        if (
            connection is None
            or local.generation != _caches_generation
            or local.pid != os.getpid()
            or local.unread
        ):
            if connection is not None and local.pid == os.getpid():
                connection.disconnect()
            pool = cache._cache._get_connection_pool(True)  # type: ignore[attr-defined]
            connection = pool.connection_class(**pool.connection_kwargs)
            local.connection, local.generation, local.pid = (
                connection,
                _caches_generation,
                os.getpid(),
            )
        local.unread = False
        try:
            connection.send_packed_command([packed], check_health=False)
        except BaseException:
            local.connection = None  # redis-py closed it
            raise
        local.unread = True
        return connection

    def read(self, connection: Any) -> Any:
        """The reply to the last `send` on ``connection``.

        Read and parsed here (`parse_reply`), not by redis-py's parser, which costs several
        times the reply's few bytes; errors are redis-py's all the same.
        """
        try:
            reply = _read_reply(connection)
        except ResponseError:
            self._local.unread = False  # an error reply: the connection is in step
            raise
        except BaseException:
            self._local.connection = None
            connection.disconnect()
            raise
        self._local.unread = False
        return reply


class _Incomplete(Exception):
    """The reply has not all arrived yet."""


def _read_reply(connection: Any) -> Any:
    sock = connection._sock
    if sock is None:
        raise RedisConnectionError("Connection closed")
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError as error:
            raise RedisTimeoutError(f"Timeout reading from Redis: {error}") from error
        except OSError as error:
            raise RedisConnectionError(f"Error while reading from Redis: {error}") from error
        if not chunk:
            raise RedisConnectionError("Connection closed by server.")
        data += chunk
        try:
            reply, end = parse_reply(data, 0)
        except _Incomplete:
            continue
        if end != len(data):  # one command, one reply: anything more is out of step
            raise InvalidResponse("More than one reply to one command")
        if isinstance(reply, ResponseError):
            raise reply
        return reply


def parse_reply(data: bytes, start: int) -> tuple[Any, int]:
    """One RESP2 or RESP3 reply from ``data[start:]``, and where it ends; raises `_Incomplete`.

    Strings stay bytes, as redis-py gives them undecoded; an error reply is returned as the
    exception redis-py makes of it (`NoScriptError` for ``NOSCRIPT``), for the caller to raise.
    """
    line_end = data.find(b"\r\n", start)
    if line_end < 0:
        raise _Incomplete
    kind = data[start]
    line = data[start + 1 : line_end]
    after = line_end + 2
    if kind == 58:  # ":" integer
        return int(line), after
    if kind == 36:  # "$" bulk string
        length = int(line)
        if length < 0:
            return None, after
        if len(data) < after + length + 2:
            raise _Incomplete
        return data[after : after + length], after + length + 2
    if kind in (42, 126, 62):  # "*" array, "~" set, ">" push
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = parse_reply(data, after)
            items.append(item)
        return items, after
    if kind == 43:  # "+" simple string
        return line, after
    if kind == 95:  # "_" null
        return None, after
    if kind == 45:  # "-" error
        return BaseParser.parse_error(line.decode(errors="replace")), after
    if kind == 35:  # "#" boolean
        return line == b"t", after
    raise InvalidResponse(f"Unexpected reply type {chr(kind)!r}")
