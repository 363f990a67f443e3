"""Signed, expiring media URLs: ``{ENGIUM_PUBLIC_URL}/media/{token}``.

A provider fetches media without an API key (Twilio's ``MediaUrl``, WhatsApp Cloud's
``link``), so the URL itself is the credential: the token names the tenant and the media
file, and is signed with the ``SECRET_KEY`` (Django's `TimestampSigner`, salted for this
use only). It is valid for ``ENGIUM_MEDIA_URL_MAX_AGE_SECONDS`` after it was made; every
answer that shows a media URL makes a fresh one, and so does every delivery attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.utils import timezone

SALT = "engium.media.url"
PATH_PREFIX = "/media/"


@dataclass(frozen=True)
class MediaToken:
    tenant_id: str
    media_id: str
    #: when the URL was signed
    signed_at: datetime


class BadMediaURL(Exception):
    """Not one of our media URLs, or its signature does not check out."""


class ExpiredMediaURL(Exception):
    """A genuine media URL, past its validity."""


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)


def max_age() -> timedelta:
    return timedelta(seconds=settings.ENGIUM_MEDIA_URL_MAX_AGE_SECONDS)


def make_token(tenant_id: str, media_id: str) -> str:
    return _signer().sign_object({"t": tenant_id, "m": media_id}, compress=False)


def media_url(tenant_id: str, media_id: str) -> str:
    """A fresh signed URL of a tenant's media file."""
    base = settings.ENGIUM_PUBLIC_URL.rstrip("/")
    return f"{base}{PATH_PREFIX}{make_token(tenant_id, media_id)}"


def expires_at(signed_at: datetime | None = None) -> datetime:
    return (signed_at or timezone.now()) + max_age()


def read_token(token: str, *, check_age: bool = True) -> MediaToken:
    """The tenant and media a token names; `BadMediaURL` or `ExpiredMediaURL` otherwise."""
    signer = _signer()
    try:
        value: Any = signer.unsign_object(token, max_age=max_age() if check_age else None)
    except signing.SignatureExpired as exc:
        raise ExpiredMediaURL() from exc
    except (signing.BadSignature, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise BadMediaURL() from exc
    if not (
        isinstance(value, dict)
        and isinstance(value.get("t"), str)
        and isinstance(value.get("m"), str)
    ):
        raise BadMediaURL()
    # ``value:timestamp:signature``; the signature checked out, so the timestamp is ours.
    stamp = signing.b62_decode(token.rsplit(signer.sep, 2)[-2])
    signed_at = datetime.fromtimestamp(stamp, tz=timezone.get_current_timezone())
    return MediaToken(tenant_id=value["t"], media_id=value["m"], signed_at=signed_at)


def token_of(url: str) -> str | None:
    """The token of a URL on our public base under ``/media/``; None for any other URL."""
    prefix = settings.ENGIUM_PUBLIC_URL.rstrip("/") + PATH_PREFIX
    if not url.startswith(prefix):
        return None
    token = url[len(prefix) :]
    return token if token and "/" not in token and "?" not in token else None


def is_media_url(url: str) -> bool:
    return token_of(url) is not None


def refresh_media_url(url: str) -> str:
    """The same media under a freshly signed URL, if ``url`` is a genuine one of ours.

    For URLs we stored ourselves (a message's media): the age of the stored signature does
    not matter, its authenticity does. Any other URL is returned as it is.
    """
    token = token_of(url)
    if token is None:
        return url
    try:
        parsed = read_token(token, check_age=False)
    except BadMediaURL:
        return url
    return media_url(parsed.tenant_id, parsed.media_id)
