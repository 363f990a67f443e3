"""Request body parsing that cannot be pushed into a 500."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework.parsers import BaseParser

from engium.exceptions import MalformedJSON, PayloadTooLarge


class StrictJSONParser(BaseParser):
    """JSON only, at most ``ENGIUM_MAX_BODY_BYTES``, UTF-8, no NaN/Infinity, no deep nesting."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.ENGIUM_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge()
        if not raw.strip():
            raise MalformedJSON("The request body is empty; send a JSON object.")
        try:
            text = raw.decode("utf-8")
            data = json.loads(text, parse_constant=_reject_constant)
        except UnicodeDecodeError as exc:
            raise MalformedJSON("The request body is not valid UTF-8.") from exc
        except RecursionError as exc:
            raise MalformedJSON("The request body is nested too deeply.") from exc
        except ValueError as exc:
            raise MalformedJSON(f"The request body is not valid JSON: {exc}.") from exc
        _check_depth(data)
        return data


MAX_DEPTH = 32


def _check_depth(data: Any) -> None:
    """Refuse bodies nested deeper than any API needs (deep values break encoders later)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            raise MalformedJSON(f"The request body is nested deeper than {MAX_DEPTH} levels.")
        stack.extend((child, depth + 1) for child in children)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")
