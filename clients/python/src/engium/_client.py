"""``Engium`` (sync) and ``AsyncEngium``: configuration, the HTTP client, retries."""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Any, TypeVar

import httpx

from . import _async_resources as async_resources
from . import _resources as resources
from ._transport import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    Call,
    backoff_seconds,
    connection_error,
    default_headers,
    make_config,
    read_answer,
    should_retry_exception,
    should_retry_response,
    wait_for_response,
)

T = TypeVar("T")

__all__ = ["AsyncEngium", "Engium"]


class _Base:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        tenant_id: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        max_retry_wait: float = 60.0,
    ) -> None:
        """Arguments, else ``ENGIUM_API_KEY`` / ``ENGIUM_TENANT_ID`` / ``ENGIUM_BASE_URL``.

        ``max_retries``: retries after the first attempt; ``backoff_base`` / ``backoff_cap``:
        the exponential backoff's first and largest wait (seconds, jittered);
        ``max_retry_wait``: the longest ``Retry-After`` waited for (longer raises at once).
        """
        self.config = make_config(
            api_key=api_key,
            tenant_id=tenant_id,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            max_retry_wait=max_retry_wait,
        )

    def _request_args(self, call: Call[Any]) -> dict[str, Any]:
        return {
            "method": call.method,
            "url": call.path,
            "params": call.params,
            "json": call.json,
            "files": call.files,
            "data": call.data,
            "headers": call.headers,
        }


class Engium(_Base):
    """The Engium API, synchronously. Use as a context manager, or call ``close()``."""

    def __init__(self, *, http_client: httpx.Client | None = None, **options: Any) -> None:
        super().__init__(**options)
        self._http = http_client or httpx.Client()
        self._http.base_url = f"{self.config.base_url}/api/v1/"
        self._http.headers.update(default_headers(self.config))
        self._http.timeout = httpx.Timeout(self.config.timeout)
        self.conversations = resources.Conversations(self)
        self.messages = resources.Messages(self)
        self.integrations = resources.Integrations(self)
        self.webhooks = resources.Webhooks(self)
        self.api_keys = resources.ApiKeys(self)
        self.templates = resources.Templates(self)
        self.agent_roles = resources.AgentRoles(self)
        self.media = resources.MediaFiles(self)

    def _execute(self, call: Call[T]) -> T:
        retry = 0
        while True:
            try:
                response = self._http.request(**self._request_args(call))
            except httpx.TransportError as error:
                if retry >= self.config.max_retries or not should_retry_exception(call, error):
                    raise connection_error(error) from error
                time.sleep(backoff_seconds(self.config, retry))
                retry += 1
                continue
            if retry < self.config.max_retries and should_retry_response(call, response):
                wait = wait_for_response(self.config, response, retry)
                if wait is not None:
                    response.close()
                    time.sleep(wait)
                    retry += 1
                    continue
            return read_answer(call, response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Engium:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncEngium(_Base):
    """The Engium API for asyncio. Use with ``async with``, or ``await client.close()``."""

    def __init__(self, *, http_client: httpx.AsyncClient | None = None, **options: Any) -> None:
        super().__init__(**options)
        self._http = http_client or httpx.AsyncClient()
        self._http.base_url = f"{self.config.base_url}/api/v1/"
        self._http.headers.update(default_headers(self.config))
        self._http.timeout = httpx.Timeout(self.config.timeout)
        self.conversations = async_resources.Conversations(self)
        self.messages = async_resources.Messages(self)
        self.integrations = async_resources.Integrations(self)
        self.webhooks = async_resources.Webhooks(self)
        self.api_keys = async_resources.ApiKeys(self)
        self.templates = async_resources.Templates(self)
        self.agent_roles = async_resources.AgentRoles(self)
        self.media = async_resources.MediaFiles(self)

    async def _execute(self, call: Call[T]) -> T:
        retry = 0
        while True:
            try:
                response = await self._http.request(**self._request_args(call))
            except httpx.TransportError as error:
                if retry >= self.config.max_retries or not should_retry_exception(call, error):
                    raise connection_error(error) from error
                await asyncio.sleep(backoff_seconds(self.config, retry))
                retry += 1
                continue
            if retry < self.config.max_retries and should_retry_response(call, response):
                wait = wait_for_response(self.config, response, retry)
                if wait is not None:
                    await response.aclose()
                    await asyncio.sleep(wait)
                    retry += 1
                    continue
            return read_answer(call, response)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncEngium:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
