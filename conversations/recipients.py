"""Phone numbers as the API takes them: E.164, tolerant of common punctuation."""

from __future__ import annotations

import re

import phonenumbers

from engium.exceptions import InvalidRecipient
from engium.patterns import PHONE_SEPARATORS

_PUNCTUATION = re.compile(f"[{PHONE_SEPARATORS}]")
_E164_SHAPE = re.compile(r"^\+[1-9][0-9]{1,14}$")


def normalize_recipient(raw: object, *, field: str = "recipient") -> str:
    """The number in E.164, or `InvalidRecipient`.

    Spaces, dashes, dots and parentheses are stripped; what remains must be ``+`` and
    digits, and a *possible* number for its country (not `is_valid_number`, which refuses
    the reserved 555-01xx range of our own documentation's example).
    """
    if not isinstance(raw, str):
        raise InvalidRecipient("recipient must be a string such as +15550102999.", field=field)
    compact = _PUNCTUATION.sub("", raw)
    if not compact.startswith("+"):
        raise InvalidRecipient(
            "recipient must start with + and the country code, e.g. +15550102999.", field=field
        )
    if not _E164_SHAPE.match(compact):
        raise InvalidRecipient(
            "recipient may hold only +, digits and the separators space, dash, dot and "
            "parentheses, at most 15 digits.",
            field=field,
        )
    try:
        number = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidRecipient(
            f"recipient is not a phone number with a known country code: {exc}", field=field
        ) from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidRecipient(
            "recipient is not a possible phone number for its country.", field=field
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
