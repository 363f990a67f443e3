"""Request IDs for structured logs: one ID per request, on every log line and in `X-Request-ID`."""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar

current_request_id: ContextVar[str | None] = ContextVar("engium_request_id", default=None)


class RequestIDFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


# Query parameters and headers whose values never belong in a log line.
_SECRET_PARAMETER = re.compile(
    r"(?i)\b(api[_-]?key|key|token|access[_-]?token|auth[_-]?token|secret|password|passwd|"
    r"signature|sig|code|hub\.verify_token)=([^&\s'\"]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_API_KEY = re.compile(r"\begk_[A-Za-z0-9_-]+")


def redact(text: str) -> str:
    """``text`` with the values of secret parameters, credentials and API keys replaced."""
    text = _SECRET_PARAMETER.sub(r"\1=[redacted]", text)
    text = _BEARER.sub(r"\1 [redacted]", text)
    return _API_KEY.sub("egk_[redacted]", text)


class RedactingFilter(logging.Filter):
    """Keeps secrets and personal data out of every log line.

    Django attaches the request to its request and security log records, and a JSON
    formatter writes it out with its full URL, query string included (phone numbers, a key
    put in a URL by mistake). The request becomes its method and path; the message is
    redacted (`redact`).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "method"):
            record.request = redact(f"{request.method} {getattr(request, 'path_info', '')}")
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class ClientErrorFilter(logging.Filter):
    """A client's mistake (a bad Host header, a suspicious request) is a warning, not a crash.

    Django logs every `SuspiciousOperation` (``django.security.*``), such as
    `DisallowedHost`, as an error with its traceback; nothing on our side failed.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.security.") and record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True
