"""HTTP calls to providers, with their failures sorted into transient and permanent.

Timeouts, connection errors, 5xx and 429 are transient (retried with backoff, honouring
``Retry-After``), and so are the provider error codes an adapter names as throttling
(``transient_codes``: Meta answers some with HTTP 400); any other 4xx is permanent and
carries the provider's own error code when the body names one.

Inside `recording()`, every call is also noted (method, URL, bodies, status, duration;
never the headers, which carry credentials) for the per-message provider log.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, NoReturn

import httpx
from django.conf import settings

from integrations.providers.base import PermanentProviderError, TransientProviderError

ErrorCodeReader = Callable[[httpx.Response], tuple[str, str] | None]

_client: httpx.Client | None = None

#: how much of a request or response body the provider log keeps
LOGGED_BODY_CHARS = 8192


@dataclass
class Exchange:
    """One call to a provider, as the provider log keeps it (no headers)."""

    method: str
    url: str
    request_body: str
    status_code: int | None = None
    response_body: str = ""
    error: str = ""
    duration_ms: int = 0


_recording: contextvars.ContextVar[list[Exchange] | None] = contextvars.ContextVar(
    "provider_http_recording", default=None
)


@contextlib.contextmanager
def recording() -> Iterator[list[Exchange]]:
    """Collect the calls made inside the block (for the per-message provider log)."""
    exchanges: list[Exchange] = []
    token = _recording.set(exchanges)
    try:
        yield exchanges
    finally:
        _recording.reset(token)


def _body_text(content: bytes) -> str:
    return content[:LOGGED_BODY_CHARS].decode("utf-8", errors="replace")


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


#: failures that happen before a request leaves: the provider cannot have acted on it
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def request(
    method: str,
    url: str,
    *,
    provider: str,
    read_error: ErrorCodeReader | None = None,
    transient_codes: Collection[str] = (),
    **kwargs: Any,
) -> httpx.Response:
    """Make the call; return a 2xx answer or raise the matching `ProviderError`."""
    kwargs.setdefault("timeout", settings.ENGIUM_PROVIDER_TIMEOUT_SECONDS)
    built = client().build_request(
        method,
        url,
        **{k: v for k, v in kwargs.items() if k not in {"auth", "timeout"}},
        timeout=kwargs["timeout"],
    )
    exchange = Exchange(method=method, url=url, request_body=_body_text(built.content))
    exchanges = _recording.get()
    if exchanges is not None:
        exchanges.append(exchange)
    started = time.monotonic()
    try:
        response = client().send(built, auth=kwargs.get("auth"))
    except httpx.TimeoutException as exc:
        exchange.error = "timeout"
        raise TransientProviderError(
            f"{provider}_timeout",
            f"{provider} did not answer in time.",
            ambiguous=not isinstance(exc, _NOT_SENT),
        ) from exc
    except httpx.HTTPError as exc:
        exchange.error = type(exc).__name__
        raise TransientProviderError(
            f"{provider}_unreachable",
            f"{provider} could not be reached: {type(exc).__name__}.",
            ambiguous=not isinstance(exc, _NOT_SENT),
        ) from exc
    finally:
        exchange.duration_ms = round((time.monotonic() - started) * 1000)
    exchange.status_code = response.status_code
    exchange.response_body = _body_text(response.content)
    if response.is_success:
        return response
    _raise_for(response, provider, read_error, transient_codes)


def download(
    url: str,
    *,
    provider: str,
    dest: IO[bytes],
    max_bytes: int,
    read_error: ErrorCodeReader | None = None,
    **kwargs: Any,
) -> str:
    """Stream a file to ``dest`` (following redirects); returns its declared content type.

    Never more than ``max_bytes`` is read: a larger file (by ``Content-Length`` or as it
    arrives) is a permanent ``media_too_large``. Failures are sorted as `request`'s are.
    Credentials (``auth``, an ``Authorization`` header) are not carried across a redirect to
    another host (httpx drops them), as Twilio's redirects to its storage need.
    """
    kwargs.setdefault("timeout", settings.ENGIUM_PROVIDER_TIMEOUT_SECONDS)
    exchange = Exchange(method="GET", url=url, request_body="")
    exchanges = _recording.get()
    if exchanges is not None:
        exchanges.append(exchange)
    started = time.monotonic()
    try:
        with client().stream("GET", url, follow_redirects=True, **kwargs) as response:
            exchange.status_code = response.status_code
            if not response.is_success:
                response.read()
                exchange.response_body = _body_text(response.content)
                _raise_for(response, provider, read_error, ())
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                raise PermanentProviderError(
                    "media_too_large", f"The media is {declared} bytes, over {max_bytes}."
                )
            received = 0
            for chunk in response.iter_bytes(64 * 1024):
                received += len(chunk)
                if received > max_bytes:
                    raise PermanentProviderError(
                        "media_too_large", f"The media is larger than {max_bytes} bytes."
                    )
                dest.write(chunk)
            exchange.response_body = f"<{received} bytes>"
            return str(response.headers.get("Content-Type", ""))
    except httpx.TimeoutException as exc:
        exchange.error = "timeout"
        raise TransientProviderError(
            f"{provider}_timeout", f"{provider} did not answer in time."
        ) from exc
    except httpx.HTTPError as exc:
        exchange.error = type(exc).__name__
        raise TransientProviderError(
            f"{provider}_unreachable", f"{provider} could not be reached: {type(exc).__name__}."
        ) from exc
    finally:
        exchange.duration_ms = round((time.monotonic() - started) * 1000)


def _raise_for(
    response: httpx.Response,
    provider: str,
    read_error: ErrorCodeReader | None,
    transient_codes: Collection[str],
) -> NoReturn:
    named = read_error(response) if read_error else None
    code, message = named or (
        f"{provider}_http_{response.status_code}",
        f"{provider} answered HTTP {response.status_code}.",
    )
    if response.status_code == 429 or response.status_code >= 500 or code in transient_codes:
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
