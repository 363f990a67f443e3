"""Regular expressions that both the validation and the OpenAPI schema use.

Written so that Python's `re` and the ECMA-262 dialect of JSON Schema read them alike: no
`\\s` or `\\d` (their classes differ at the edges, e.g. U+001C and U+FEFF), `\\uXXXX`
escapes, and anchors only where a pattern is a full match.
"""

from __future__ import annotations

#: Every character that `str.isspace()`, and so `str.strip()`, counts as white space.
WHITESPACE = (
    r"\t\n\u000b\u000c\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)

#: Text holding something besides white space (a search, as JSON Schema's `pattern`).
NOT_ONLY_WHITESPACE = f"[^{WHITESPACE}]"

#: What a phone number may hold besides `+` and digits (docs/api.md#recipient).
PHONE_SEPARATORS = rf"{WHITESPACE}\-.()"

#: The shape of a phone number as the API takes it: separators, `+`, then digits and
#: separators. Whether it is a possible number is `conversations.recipients`' to say.
PHONE_SHAPE = rf"^[{PHONE_SEPARATORS}]*\+[0-9{PHONE_SEPARATORS}]+$"

#: A media URL: `https`, a host name or IPv4 address, an optional port, then anything but
#: white space. `\Z` (Python's end of text; `$` also matches before a final line break) is
#: written `$` in the schema.
MEDIA_URL = rf"^https://[A-Za-z0-9.\-]+(:[0-9]{{1,5}})?([/?#][^{WHITESPACE}]*)?\Z"


def _letters_and_digits() -> str:
    """A character class body of every letter and digit (Unicode categories L and N) of the
    Basic Multilingual Plane, as `\\uXXXX` ranges: no `\\w` or `\\p{L}`, which the engines
    read differently or not at all."""
    import sys
    import unicodedata

    ranges: list[str] = []
    start = None
    for code in range(min(sys.maxunicode, 0xFFFF) + 2):
        inside = code <= 0xFFFF and unicodedata.category(chr(code))[0] in "LN"
        if inside and start is None:
            start = code
        elif not inside and start is not None:
            end = code - 1
            ranges.append(rf"\u{start:04x}" if start == end else rf"\u{start:04x}-\u{end:04x}")
            start = None
    return "".join(ranges)


#: A letter or a digit (categories L and N) of the Basic Multilingual Plane.
LETTER_OR_DIGIT = _letters_and_digits()

#: Text without NUL (PostgreSQL stores no U+0000 in text; DRF refuses it in every text field).
#: Not empty: a field that allows "" takes it before its validators, and its schema says so
#: in a `oneOf` beside this pattern (which must then not match "" too).
NO_NUL = r"^[^\x00]+\Z"

#: Text without NUL holding something besides white space (`NOT_ONLY_WHITESPACE`, as a full match).
TEXT = rf"^[{WHITESPACE}]*[^{WHITESPACE}\x00][^\x00]*\Z"

#: Text without NUL holding a letter or a digit (a hand-off keyword: what it matches are words).
HAS_LETTER_OR_DIGIT = rf"^[^\x00]*[{LETTER_OR_DIGIT}][^\x00]*\Z"
