"""Verify Engium's webhook deliveries (Standard Webhooks) and read them as typed events.

    event = engium.webhooks.verify(request.body, request.headers, secret)

The rules (https://www.standardwebhooks.com): ``webhook-signature`` holds one or more
space-separated ``v1,<base64 HMAC-SHA256>`` of ``<webhook-id>.<webhook-timestamp>.<body>``,
keyed with the base64-decoded part of the secret after ``whsec_``; one matching signature is
enough (while a secret is rotated, both are sent). ``webhook-timestamp`` must be within
``tolerance`` seconds of now, so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .errors import WebhookVerificationError
from .models import WebhookEvent

__all__ = ["DEFAULT_TOLERANCE", "sign", "verify"]

DEFAULT_TOLERANCE = 300
_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def _key(secret: str) -> bytes:
    encoded = secret[len(_SECRET_PREFIX) :] if secret.startswith(_SECRET_PREFIX) else secret
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise WebhookVerificationError(
            "The webhook secret is not valid base64 (expected whsec_…).", code="invalid_secret"
        ) from error


def sign(secret: str, msg_id: str, timestamp: int, payload: bytes | str) -> str:
    """The ``v1,…`` signature of a delivery (what Engium sends in ``webhook-signature``)."""
    body = payload.encode() if isinstance(payload, str) else payload
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _header(headers: Mapping[str, Any], name: str) -> str:
    value = headers.get(name)
    if value is None:
        for key, candidate in headers.items():
            if key.lower() == name:
                value = candidate
                break
    if not value:
        raise WebhookVerificationError(f"Missing header {name}.", code="missing_header")
    return str(value)


def verify(
    payload: bytes | str,
    headers: Mapping[str, Any],
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
) -> WebhookEvent:
    """The delivery's event, once its signature and timestamp are checked.

    ``payload`` is the raw body exactly as received (not re-serialized JSON); ``headers`` any
    mapping (Django's, Flask's and Starlette's included). Raises ``WebhookVerificationError``
    when a header is missing, no signature matches, or the timestamp is more than
    ``tolerance`` seconds from now.
    """
    msg_id = _header(headers, "webhook-id")
    raw_timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        timestamp = int(raw_timestamp)
    except ValueError as error:
        raise WebhookVerificationError(
            "webhook-timestamp is not a number.", code="invalid_timestamp"
        ) from error
    now = time.time()
    if timestamp < now - tolerance:
        raise WebhookVerificationError("The delivery is too old.", code="timestamp_too_old")
    if timestamp > now + tolerance:
        raise WebhookVerificationError("The delivery is from the future.", code="timestamp_too_new")
    expected = sign(secret, msg_id, timestamp, payload).encode()
    for candidate in signatures.split():
        version, _, _value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(candidate.encode(), expected):
            break
    else:
        raise WebhookVerificationError("No signature matches.", code="invalid_signature")
    body = payload.decode() if isinstance(payload, bytes) else payload
    try:
        event = json.loads(body)
        return WebhookEvent(
            id=msg_id,
            type=str(event["type"]),
            timestamp=datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00")),
            data=dict(event["data"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise WebhookVerificationError(
            "The payload is not an Engium event.", code="invalid_payload"
        ) from error
