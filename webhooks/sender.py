"""The HTTP side of delivery: one event loop per worker process, on a thread of its own.

`start` puts a batch of POSTs on that loop and returns at once; each result is handed to
a callback as it lands (a worker's recorder thread does the database work: Django's
connections are per thread and synchronous). `send` runs a batch and yields its results
in groups, as they land, to the calling thread (for callers that wait: eager tasks, tests,
tools). Connections are pooled per endpoint origin (scheme, host
and port as the tenant wrote them), and only ever opened to addresses checked by
`webhooks.network`, so a pooled connection never serves another host name and never
bypasses the SSRF rules.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import ssl
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from webhooks.network import AttemptResult, post, tls_context

logger = logging.getLogger(__name__)

K = TypeVar("K")
#: Pools kept open at once; the least recently used is closed beyond this.
MAX_POOLS = 256


@dataclass(frozen=True)
class Request(Generic[K]):
    key: K
    url: str
    headers: dict[str, str]
    body: bytes


class Sender:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._pools: OrderedDict[tuple[str, str, int | None, ssl.SSLContext], httpx.AsyncClient] = (
            OrderedDict()
        )
        self._closing: set[asyncio.Future[None]] = set()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a fork starts its own
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name="engium-webhooks-sender", daemon=True
                ).start()
                self._loop, self._pid, self._pools = loop, os.getpid(), OrderedDict()
            return self._loop

    def _pool(self, url: str) -> httpx.AsyncClient:
        parts = urlsplit(url)
        origin = (parts.scheme, parts.hostname or "", parts.port, tls_context())
        client = self._pools.pop(origin, None)
        if client is None:
            client = httpx.AsyncClient(
                verify=origin[3],
                follow_redirects=False,  # a redirect is a failed attempt, never followed
                timeout=settings.ENGIUM_WEBHOOK_TIMEOUT_SECONDS,
                limits=httpx.Limits(
                    max_connections=settings.ENGIUM_WEBHOOK_ENDPOINT_CONCURRENCY,
                    max_keepalive_connections=settings.ENGIUM_WEBHOOK_ENDPOINT_CONCURRENCY,
                ),
                trust_env=False,  # no proxy from the environment: we connect where we checked
            )
            if len(self._pools) >= MAX_POOLS:
                _, oldest = self._pools.popitem(last=False)
                closing = asyncio.ensure_future(oldest.aclose())
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
        self._pools[origin] = client
        return client

    async def _one(self, request: Request[K]) -> tuple[K, AttemptResult]:
        try:
            result = await post(
                self._pool(request.url), request.url, headers=request.headers, body=request.body
            )
        except Exception as exc:  # a bug must not strand the batch
            logger.exception("webhook attempt crashed")
            result = AttemptResult(None, 0, error=f"internal error: {type(exc).__name__}")
        return request.key, result

    def start(
        self, requests: list[Request[K]], landed: Callable[[K, AttemptResult], object]
    ) -> None:
        """POST every request concurrently and return; ``landed(key, result)`` is called
        on the loop's thread as each completes (it must be quick and must not raise)."""
        if not requests:
            return
        loop = self._ensure_loop()

        def done(future: Future[tuple[K, AttemptResult]]) -> None:
            if not future.cancelled():  # cancelled: the process is exiting; the lease expires
                landed(*future.result())  # `_one` never raises

        for request in requests:
            asyncio.run_coroutine_threadsafe(self._one(request), loop).add_done_callback(done)

    def send(self, requests: list[Request[K]]) -> Iterator[list[tuple[K, AttemptResult]]]:
        """POST every request concurrently; yield the results in groups as they complete."""
        if not requests:
            return
        loop = self._ensure_loop()
        landed: queue.SimpleQueue[Future[tuple[K, AttemptResult]]] = queue.SimpleQueue()
        for request in requests:
            future = asyncio.run_coroutine_threadsafe(self._one(request), loop)
            future.add_done_callback(landed.put)
        remaining = len(requests)
        while remaining:
            group = [landed.get()]
            while True:
                try:
                    group.append(landed.get_nowait())
                except queue.Empty:
                    break
            remaining -= len(group)
            yield [future.result() for future in group]


sender = Sender()
