"""Schemathesis hooks for the fuzz test (`schemathesis.toml` loads this module).

`error_envelope`: every error answer (4xx and 5xx) is JSON in the envelope every Engium
error has, `{"error": {"code", "message", "field"?, "details"?, "details_total"?}}`
(docs/api.md#errors), whatever the request looked like: also for paths, methods, headers
and bodies the schema does not describe, which the response schema checks never see.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

_ERROR_KEYS = {"code", "message", "field", "details", "details_total"}


def envelope_problem(status: int, content_type: str, body: bytes) -> str | None:
    """What is wrong with an error answer, or None if it is the documented envelope."""
    if status < 400:
        return None
    if content_type.split(";")[0].strip().lower() != "application/json":
        return f"{status} answered with Content-Type {content_type!r}, not application/json"
    try:
        document: Any = json.loads(body)
    except ValueError:
        return f"{status} answered with a body that is not JSON: {body[:200]!r}"
    if not isinstance(document, dict) or set(document) != {"error"}:
        return f'{status} answered {document!r:.300}, not {{"error": {{…}}}}'
    error = document["error"]
    if not isinstance(error, dict):
        return f"{status}: `error` is {error!r:.200}, not an object"
    problems = []
    for key in ("code", "message"):
        if not isinstance(error.get(key), str) or not error[key]:
            problems.append(f"`error.{key}` is missing or not a non-empty string")
    if "field" in error and not isinstance(error["field"], str):
        problems.append("`error.field` is not a string")
    details = error.get("details", [])
    if not isinstance(details, list) or not all(
        isinstance(item, dict) and isinstance(item.get("message"), str) for item in details
    ):
        problems.append("`error.details` is not a list of objects with a `message`")
    unknown = sorted(set(error) - _ERROR_KEYS)
    if unknown:
        problems.append(f"`error` holds undocumented keys {unknown}")
    if problems:
        return f"{status} answered {error!r:.300}: " + "; ".join(problems)
    return None


@schemathesis.check
def error_envelope(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error answer is JSON `{"error": {"code", "message", …}}`."""
    if response.request.method == "HEAD":  # an answer to HEAD has no body to check
        return None
    content_type = response.headers.get("content-type") or response.headers.get("Content-Type")
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    problem = envelope_problem(response.status_code, content_type or "", response.content or b"")
    if problem:
        raise AssertionError(f"Not the error envelope: {problem}")
    return None
