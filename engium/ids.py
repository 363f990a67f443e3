"""Public identifiers: a type prefix and 26 Crockford base32 characters.

The first 10 characters encode the creation time in milliseconds (as in ULID), so IDs
of one kind sort by creation time; cursor pagination relies on that.
"""

from __future__ import annotations

import re
import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_BODY = re.compile(r"^[0-9a-hjkmnp-tv-z]{26}$")


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A new time-ordered ID such as ``sess_01jd8x…``."""
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{_encode(millis, 10)}{_encode(secrets.randbits(80), 16)}"


def is_valid_id(value: object, prefix: str) -> bool:
    """Whether ``value`` has the shape of an ID with this prefix (it may still not exist)."""
    if not isinstance(value, str) or not value.startswith(prefix + "_"):
        return False
    return bool(_BODY.match(value[len(prefix) + 1 :]))
