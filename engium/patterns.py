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
