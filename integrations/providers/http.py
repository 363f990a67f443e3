"""HTTP calls to providers, with their failures sorted into transient and permanent.

Timeouts, connection errors, 5xx and 429 are transient (retried with backoff, honouring
``Retry-After``); any other 4xx is permanent and carries the provider's own error code
when the body names one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx
from django.conf import settings

from integrations.providers.base import PermanentProviderError, TransientProviderError

ErrorCodeReader = Callable[[httpx.Response], tuple[str, str] | None]

_client: httpx.Client | None = None


def client() -> httpx.Client:
    """One pooled client per process (keep-alive to providers)."""
    global _client
    if _client is None:
        _client = httpx.Client(
            follow_redirects=False,
            headers={"User-Agent": "Engium/1.0"},
        )
    return _client


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 24 * 3600 else None


def request(
    method: str,
    url: str,
    *,
    provider: str,
    read_error: ErrorCodeReader | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Make the call; return a 2xx answer or raise the matching `ProviderError`."""
    try:
        kwargs.setdefault("timeout", settings.ENGIUM_PROVIDER_TIMEOUT_SECONDS)
        response = client().request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransientProviderError(
            f"{provider}_timeout", f"{provider} did not answer in time."
        ) from exc
    except httpx.HTTPError as exc:
        raise TransientProviderError(
            f"{provider}_unreachable", f"{provider} could not be reached: {type(exc).__name__}."
        ) from exc
    if response.is_success:
        return response
    named = read_error(response) if read_error else None
    code, message = named or (
        f"{provider}_http_{response.status_code}",
        f"{provider} answered HTTP {response.status_code}.",
    )
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientProviderError(code, message, retry_after=retry_after_seconds(response))
    raise PermanentProviderError(code, message)


def json_error_reader(*path: str) -> ErrorCodeReader:
    """Reads ``(code, message)`` from a JSON error body at ``path`` (e.g. "error")."""

    def read(response: httpx.Response) -> tuple[str, str] | None:
        try:
            body: Any = response.json()
        except ValueError:
            return None
        for key in path:
            body = body.get(key) if isinstance(body, Mapping) else None
        if not isinstance(body, Mapping) or "code" not in body:
            return None
        return str(body["code"]), str(body.get("message", ""))

    return read
