"""Where webhooks may go (SSRF rules) and how one attempt is made.

Endpoint URLs must be ``https`` and resolve only to public addresses: no private,
loopback, link-local, shared (CGNAT, 100.64/10), multicast, reserved or unspecified address,
in IPv4 or IPv6 (IPv4-mapped, 6to4 and Teredo addresses are judged by the IPv4 address they
carry). The rules are checked when an endpoint is saved and again at every attempt, on the
address actually connected to: the host is resolved here, every address checked, and the
connection made to that address with the original ``Host`` header and TLS server name, so
a DNS answer that changes between the check and the connection (rebinding) is never
followed. The TLS certificate is verified against that host name (sent as SNI), by the
authorities of ``ENGIUM_WEBHOOKS_CA_BUNDLE`` (default: certifi's bundle).
``ENGIUM_WEBHOOKS_ALLOW_PRIVATE`` lifts both rules (development and tests); it never turns
verification off, so an ``https`` endpoint is verified in every mode.
``ENGIUM_WEBHOOKS_RESOLVE`` gives fixed addresses for host names, which are checked like
DNS answers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

import certifi
import httpx
from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Answers are read up to this many bytes, then the connection is dropped.
MAX_RESPONSE_BYTES = 64 * 1024
#: What the attempt log keeps of an answer.
SNIPPET_BYTES = 1024


class UnsafeDestination(Exception):
    """The URL or an address it resolves to is not allowed."""


def is_public_address(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return is_public_address(embedded)
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
    )


def check_address(ip: IPAddress) -> None:
    if not settings.ENGIUM_WEBHOOKS_ALLOW_PRIVATE and not is_public_address(ip):
        raise UnsafeDestination(f"{ip} is not a public address")


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect, and what to tell the server it is."""

    url: str  # with the host replaced by the checked address
    host_header: str
    server_name: str  # TLS SNI and certificate name


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an allowed URL; `UnsafeDestination` for any other."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeDestination("not a valid URL") from exc
    allowed = ("https", "http") if settings.ENGIUM_WEBHOOKS_ALLOW_PRIVATE else ("https",)
    if parts.scheme not in allowed:
        raise UnsafeDestination("the URL must use https")
    if not parts.hostname:
        raise UnsafeDestination("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeDestination("the URL must not carry credentials")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _addresses(infos: Sequence[tuple[object, ...]]) -> list[IPAddress]:
    found = []
    for info in infos:
        sockaddr = info[4]
        assert isinstance(sockaddr, tuple)
        found.append(ipaddress.ip_address(str(sockaddr[0]).split("%")[0]))
    return found


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _target(url: str, scheme: str, host: str, port: int, ip: IPAddress) -> Target:
    parts = urlsplit(url)
    netloc = f"[{ip}]" if ip.version == 6 else str(ip)
    default_port = 443 if scheme == "https" else 80
    host_text = f"[{host}]" if ":" in host else host
    host_header = host_text if port == default_port else f"{host_text}:{port}"
    return Target(
        url=urlunsplit((scheme, f"{netloc}:{port}", parts.path or "/", parts.query, "")),
        host_header=host_header,
        server_name=host,
    )


def _fixed(host: str) -> IPAddress | None:
    """The address given for ``host`` by the literal itself or ``ENGIUM_WEBHOOKS_RESOLVE``."""
    fixed = settings.ENGIUM_WEBHOOKS_RESOLVE.get(host.lower())
    return _literal(fixed if fixed is not None else host)


def resolve(url: str) -> Target:
    """Check ``url`` and every address its host resolves to (blocking; when saving)."""
    scheme, host, port = check_url(url)
    literal = _fixed(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = _addresses(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            raise UnsafeDestination(f"{host} does not resolve") from exc
    for ip in addresses:
        check_address(ip)
    return _target(url, scheme, host, port, addresses[0])


async def resolve_async(url: str) -> Target:
    """`resolve` for an attempt: the returned address is the one connected to."""
    scheme, host, port = check_url(url)
    literal = _fixed(host)
    if literal is not None:
        addresses = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise UnsafeDestination(f"{host} does not resolve") from exc
        addresses = _addresses(list(infos))
    for ip in addresses:
        check_address(ip)
    return _target(url, scheme, host, port, addresses[0])


def tls_context() -> ssl.SSLContext:
    """The client TLS context of attempts: the certificate chain must lead to a trusted
    authority and name the endpoint's host (``check_hostname``, against the SNI name)."""
    return _tls_context(settings.ENGIUM_WEBHOOKS_CA_BUNDLE or certifi.where())


@lru_cache(maxsize=4)
def _tls_context(ca_bundle: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_bundle)


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    duration_ms: int
    response: str = ""
    error: str = ""
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # an HTTP date: rare for webhooks; the schedule applies


async def post(
    client: httpx.AsyncClient, url: str, *, headers: dict[str, str], body: bytes
) -> AttemptResult:
    """POST ``body`` to ``url`` once: no redirects, at most the timeout, answer capped."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        return await asyncio.wait_for(
            _post(client, url, headers=headers, body=body, took=took),
            timeout=settings.ENGIUM_WEBHOOK_TIMEOUT_SECONDS,
        )
    except UnsafeDestination as exc:
        return AttemptResult(None, took(), error=f"refused: {exc}")
    except (TimeoutError, httpx.TimeoutException):
        return AttemptResult(None, took(), error="timeout")
    except httpx.HTTPError as exc:
        return AttemptResult(None, took(), error=_describe(exc)[:500])


def _describe(exc: httpx.HTTPError) -> str:
    """What went wrong, in words a developer acts on (a TLS refusal names itself)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not accepted: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause.reason or cause}"
        cause = cause.__cause__ or cause.__context__
    return f"{type(exc).__name__}: {exc}"


async def _post(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: dict[str, str],
    body: bytes,
    took: object,
) -> AttemptResult:
    target = await resolve_async(url)
    extensions = {"sni_hostname": target.server_name} if url.startswith("https") else {}
    async with client.stream(
        "POST",
        target.url,
        content=body,
        headers={**headers, "host": target.host_header},
        extensions=extensions,
    ) as response:
        received = bytearray()
        async for chunk in response.aiter_raw():
            received += chunk
            if len(received) >= MAX_RESPONSE_BYTES:
                break
    assert callable(took)
    return AttemptResult(
        status_code=response.status_code,
        duration_ms=took(),
        response=bytes(received[:SNIPPET_BYTES]).decode("utf-8", "replace"),
        retry_after=_retry_after(response.headers.get("retry-after")),
    )
