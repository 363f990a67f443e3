"""Configuration, retries and error mapping, shared by the sync and the async client.

Retry policy (docs: the repository's clients/python/README.md):

- a request is retried after a connection error, a timeout, a ``5xx`` or a ``429``, at most
  ``max_retries`` times, waiting ``Retry-After`` when the answer gives one (up to
  ``max_retry_wait`` seconds; a longer wait raises at once), else a capped exponential
  backoff with full jitter;
- a send always carries an ``Idempotency-Key`` (the caller's, or a generated uuid4), the same
  on every retry, so a retried send creates its message once;
- other ``POST``s (creations without idempotency) are retried only when the request surely
  did nothing: the connection could not be made, or the answer was ``429`` / ``503``.
"""

from __future__ import annotations

import email.utils
import os
import platform
import random
import time
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from . import __version__
from .errors import APIConnectionError, APITimeoutError, EngiumError, error_from_response

T = TypeVar("T")

DEFAULT_BASE_URL = "http://localhost:8000"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Statuses after which the request surely changed nothing (safe to repeat without a key).
NOTHING_DONE_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Config:
    api_key: str
    tenant_id: str
    base_url: str
    timeout: float
    max_retries: int
    backoff_base: float
    backoff_cap: float
    max_retry_wait: float


def make_config(
    *,
    api_key: str | None,
    tenant_id: str | None,
    base_url: str | None,
    timeout: float,
    max_retries: int,
    backoff_base: float,
    backoff_cap: float,
    max_retry_wait: float,
) -> Config:
    """Arguments win over ``ENGIUM_API_KEY`` / ``ENGIUM_TENANT_ID`` / ``ENGIUM_BASE_URL``."""
    api_key = api_key or os.environ.get("ENGIUM_API_KEY")
    tenant_id = tenant_id or os.environ.get("ENGIUM_TENANT_ID")
    base_url = base_url or os.environ.get("ENGIUM_BASE_URL") or DEFAULT_BASE_URL
    if not api_key:
        raise EngiumError("No API key: pass api_key= or set ENGIUM_API_KEY.", code="no_api_key")
    if not tenant_id:
        raise EngiumError(
            "No tenant ID: pass tenant_id= or set ENGIUM_TENANT_ID.", code="no_tenant_id"
        )
    if max_retries < 0:
        raise ValueError("max_retries must be 0 or more")
    return Config(
        api_key=api_key,
        tenant_id=tenant_id,
        base_url=base_url.rstrip("/"),
        timeout=timeout,
        max_retries=max_retries,
        backoff_base=backoff_base,
        backoff_cap=backoff_cap,
        max_retry_wait=max_retry_wait,
    )


def default_headers(config: Config) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {config.api_key}",
        "X-Tenant-ID": config.tenant_id,
        "Accept": "application/json",
        "User-Agent": f"engium-python/{__version__} python/{platform.python_version()}",
    }


@dataclass
class Call(Generic[T]):
    """One API operation: what to send, and how to read the answer."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    files: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Reads the answer's JSON (None for 204).
    parse: Any = None
    #: A retry cannot repeat its effect (reads, deletes, sends with an Idempotency-Key).
    idempotent: bool = True


def clean_params(params: dict[str, Any]) -> dict[str, Any]:
    """Query parameters without the unset ones; booleans and times as the API reads them."""
    cleaned: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        cleaned[key] = value
    return cleaned


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (a number or an HTTP date), or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    remaining: float = when.timestamp() - time.time()
    return max(remaining, 0.0)


def backoff_seconds(config: Config, retry: int) -> float:
    """Capped exponential backoff with full jitter, for the ``retry``-th retry (0-based)."""
    ceiling = min(config.backoff_cap, config.backoff_base * (2**retry))
    return random.uniform(ceiling / 2, ceiling)


def should_retry_response(call: Call[Any], response: httpx.Response) -> bool:
    if response.status_code not in RETRY_STATUSES:
        return False
    return call.idempotent or response.status_code in NOTHING_DONE_STATUSES


def should_retry_exception(call: Call[Any], error: httpx.TransportError) -> bool:
    if call.idempotent:
        return True
    # The request never reached the server: nothing can have been done.
    return isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)


def wait_for_response(config: Config, response: httpx.Response, retry: int) -> float | None:
    """How long to wait before retrying after ``response``; None: do not wait that long."""
    after = retry_after_seconds(response)
    if after is None:
        return backoff_seconds(config, retry)
    if after > config.max_retry_wait:
        return None
    return after


def connection_error(error: httpx.TransportError) -> APIConnectionError:
    if isinstance(error, httpx.TimeoutException):
        return APITimeoutError(f"The request timed out: {error!r}", code="timeout")
    return APIConnectionError(f"The connection failed: {error!r}", code="connection_error")


def read_answer(call: Call[T], response: httpx.Response) -> T:
    """The parsed answer, or the typed exception for an error answer."""
    headers = {key.lower(): value for key, value in response.headers.items()}
    body: Any
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    if response.status_code >= 400:
        raise error_from_response(response.status_code, body, headers)
    if call.parse is None:
        return None  # type: ignore[return-value]
    result: T = call.parse(body, headers)
    return result
