"""Signing secrets and Standard Webhooks signatures (https://www.standardwebhooks.com).

A secret is ``whsec_`` followed by the base64 of 32 random bytes; the signature of an
attempt is ``v1,`` and the base64 HMAC-SHA256 of ``<webhook-id>.<webhook-timestamp>.<body>``
keyed with the secret's decoded bytes. The official verifiers accept what this writes
(tests check it with the `standardwebhooks` package).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,…`` signature of one attempt with one secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_in_use: list[str], *, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per valid secret, space-separated."""
    return " ".join(
        sign(secret, msg_id=msg_id, timestamp=timestamp, body=body) for secret in secrets_in_use
    )
