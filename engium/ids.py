"""Public identifiers: a type prefix and 26 Crockford base32 characters.

The first 10 characters encode the creation time in milliseconds (as in ULID), so IDs
of one kind sort by creation time; cursor pagination relies on that.
"""

from __future__ import annotations

import re
import secrets
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
#: The one definition of an ID's shape: every pattern for IDs (URL converters, cursors,
#: OpenAPI parameters, the tenant header) is built from these two.
BODY_REGEX = "[0-9a-hjkmnp-tv-z]{26}"
PREFIX_REGEX = "[a-z]{2,5}"
_BODY = re.compile(rf"^{BODY_REGEX}\Z")  # not `$`: it also matches before a final "\n"
_RANDOM_MAX = 2**80 - 1


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


# Two characters (10 bits) per step: an ID's body is 130 bits, 13 steps (`_encode_body`).
_PAIRS = [first + second for first in _ALPHABET for second in _ALPHABET]
_PAIR_SHIFTS = tuple(range(120, -1, -10))


def _encode_body(millis: int, random: int) -> str:
    """`_encode(millis, 10) + _encode(random, 16)`, in a third of the time."""
    value = (millis << 80) | random
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


_lock = threading.Lock()
_last = (0, 0)


def new_id(prefix: str) -> str:
    """A new time-ordered ID such as ``sess_01jd8x…``.

    Within one process IDs strictly increase: in the same millisecond the random part of
    the previous ID is incremented (as in monotonic ULIDs), so rows made one after the
    other keep their order even within a millisecond.
    """
    global _last
    millis = time.time_ns() // 1_000_000
    with _lock:
        last_millis, last_random = _last
        if millis <= last_millis and last_random < _RANDOM_MAX:
            millis, random = last_millis, last_random + 1
        else:
            random = secrets.randbits(79)  # headroom for increments
        _last = (millis, random)
    return f"{prefix}_{_encode_body(millis, random)}"


def id_regex(prefix: str | None = None) -> str:
    """The regular expression (unanchored) of an ID with this prefix, or with any prefix."""
    return f"{re.escape(prefix) if prefix else PREFIX_REGEX}_{BODY_REGEX}"


def is_valid_id(value: object, prefix: str) -> bool:
    """Whether ``value`` has the shape of an ID with this prefix (it may still not exist)."""
    if not isinstance(value, str) or not value.startswith(prefix + "_"):
        return False
    return bool(_BODY.match(value[len(prefix) + 1 :]))
