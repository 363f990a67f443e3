"""URL converters: a path segment that is not a well-formed ID never reaches the database."""

from __future__ import annotations

from engium.ids import id_regex


class PublicIdConverter:
    """``sess_…``, ``msg_…``, ``intg_…``: a prefix and 26 Crockford base32 characters."""

    regex = id_regex()

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
