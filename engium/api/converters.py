"""URL converters: a path segment that is not a well-formed ID never reaches the database."""

from __future__ import annotations


class PublicIdConverter:
    """``sess_…``, ``msg_…``, ``intg_…``: a prefix and 26 Crockford base32 characters."""

    regex = r"[a-z]{2,5}_[0-9a-hjkmnp-tv-z]{26}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
