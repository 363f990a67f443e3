"""API key material: generation and hashing. Keys carry 240 random bits, so SHA-256 suffices."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "egk_"
VISIBLE_CHARS = 12


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(30)


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()


def visible_prefix(raw_key: str) -> str:
    return raw_key[:VISIBLE_CHARS]
