"""Typed exceptions: every API error is raised as one of them, carrying the API's error body.

The API answers every error as ``{"error": {"code", "message", "field"?, "details"?}}`` with an
``X-Request-ID`` header; the exception raised carries all of it (quote ``request_id`` when asking
for support).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "ConflictError",
    "EngiumError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "WebhookVerificationError",
]


class EngiumError(Exception):
    """The base of every error the SDK raises."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        field: str | None = None,
        details: list[dict[str, Any]] | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.details = details or []
        self.status_code = status_code
        self.request_id = request_id
        self.headers = headers or {}

    def __str__(self) -> str:
        parts = [f"{self.code}: {self.message}" if self.code else self.message]
        if self.field:
            parts.append(f"(field {self.field})")
        if self.status_code is not None:
            parts.append(f"[HTTP {self.status_code}]")
        if self.request_id:
            parts.append(f"[request {self.request_id}]")
        return " ".join(parts)


class APIConnectionError(EngiumError):
    """No answer came: the connection failed or was dropped (after every retry)."""


class APITimeoutError(APIConnectionError):
    """No answer came in time (after every retry)."""


class ValidationError(EngiumError):
    """400: the request was refused for its content (``field`` names the culprit)."""


class AuthenticationError(EngiumError):
    """401: a missing or wrong API key, or an unknown tenant."""


class PermissionDeniedError(EngiumError):
    """403: e.g. ``tenant_suspended``."""


class NotFoundError(EngiumError):
    """404: no such object for this tenant."""


class ConflictError(EngiumError):
    """409: e.g. ``idempotency_conflict`` (a key reused with another body)."""


class PayloadTooLargeError(EngiumError):
    """413: the body (or the uploaded file) is too large."""


class UnsupportedMediaTypeError(EngiumError):
    """415: the body's content type (or an uploaded file's type) is not accepted."""


class RateLimitError(EngiumError):
    """429: over the tenant's send rate limit, still after every retry."""

    @property
    def retry_after(self) -> float | None:
        value = self.headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class ServerError(EngiumError):
    """5xx, still after every retry."""


class WebhookVerificationError(EngiumError):
    """A webhook's signature or timestamp did not verify: do not trust the payload."""


_BY_STATUS: dict[int, type[EngiumError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: ValidationError,
    429: RateLimitError,
}


def error_from_response(status_code: int, body: Any, headers: dict[str, str]) -> EngiumError:
    """The typed exception for an error answer (its body parsed as JSON, or None)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {"code": "http_error", "message": f"HTTP {status_code}"}
    cls = _BY_STATUS.get(status_code) or (ServerError if status_code >= 500 else EngiumError)
    details = error.get("details")
    return cls(
        str(error.get("message") or f"HTTP {status_code}"),
        code=str(error.get("code") or ""),
        field=error.get("field"),
        details=details if isinstance(details, list) else None,
        status_code=status_code,
        request_id=headers.get("x-request-id"),
        headers=headers,
    )
