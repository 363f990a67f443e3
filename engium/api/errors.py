"""One exception hierarchy for the whole product, and the one place that renders it.

Every error answer is ``{"error": {"code", "message", "field"?, "details"?}}`` (SPEC §8).
Services raise `EngiumError` subclasses; DRF's own exceptions are translated here too,
so no view or middleware builds error JSON by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class EngiumError(Exception):
    """An error with a stable machine-readable code and the HTTP status it answers with."""

    code = "error"
    status = 400
    message = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.field = field
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return {"error": body}


class ValidationFailed(EngiumError):
    code = "validation_error"
    message = "The request body is not valid."


class MalformedJSON(EngiumError):
    code = "malformed_json"
    message = "The request body is not valid JSON."


class InvalidRecipient(EngiumError):
    code = "invalid_recipient"
    message = "The recipient is not a possible phone number in E.164 format."


class ChannelNotConfigured(EngiumError):
    code = "channel_not_configured"
    message = "The tenant has no active integration for this channel."


class AgentRoleNotFound(EngiumError):
    code = "agent_role_not_found"
    message = "No agent role with this ID exists."


class TemplateNotFound(EngiumError):
    code = "template_not_found"
    message = "No template with this ID exists."


class AuthenticationFailed(EngiumError):
    code = "authentication_failed"
    status = 401
    message = "Missing or invalid API key or tenant ID."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="api"'})
        super().__init__(message, **kwargs)


class TenantSuspended(EngiumError):
    code = "tenant_suspended"
    status = 403
    message = "This tenant is suspended."


class PermissionDeniedError(EngiumError):
    code = "permission_denied"
    status = 403
    message = "You do not have permission to perform this action."


class NotFound(EngiumError):
    code = "not_found"
    status = 404
    message = "The requested resource does not exist."


class MethodNotAllowed(EngiumError):
    code = "method_not_allowed"
    status = 405
    message = "This method is not allowed on this resource."


class NotAcceptable(EngiumError):
    code = "not_acceptable"
    status = 406
    message = "This resource answers in application/json only."


class IdempotencyConflict(EngiumError):
    code = "idempotency_conflict"
    status = 409
    message = "This Idempotency-Key was used with a different request body."


class PayloadTooLarge(EngiumError):
    code = "payload_too_large"
    status = 413
    message = "The request body is larger than 1 MiB."


class UnsupportedMediaType(EngiumError):
    code = "unsupported_media_type"
    status = 415
    message = "Send the request body as application/json."


class RateLimited(EngiumError):
    code = "rate_limited"
    status = 429
    message = "Too many requests."


class InternalError(EngiumError):
    code = "internal_error"
    status = 500
    message = "Something went wrong on our side; the request changed nothing."


def error_response(error: EngiumError) -> JsonResponse:
    """A plain Django response for code that runs outside DRF (middleware, URL handlers)."""
    response = JsonResponse(error.as_dict(), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response


def _details_from_validation(detail: Any, prefix: str = "") -> list[dict[str, Any]]:
    """Flatten DRF's nested validation errors into ``[{"field": "a.b", "message": …}]``."""
    if isinstance(detail, dict):
        out: list[dict[str, Any]] = []
        for key, value in detail.items():
            name = prefix if key == "non_field_errors" else f"{prefix}.{key}" if prefix else key
            out.extend(_details_from_validation(value, str(name)))
        return out
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [
                {"field": prefix or None, "message": str(item), "code": getattr(item, "code", None)}
                for item in detail
            ]
        out = []
        for index, item in enumerate(detail):
            out.extend(
                _details_from_validation(item, f"{prefix}[{index}]" if prefix else str(index))
            )
        return out
    return [
        {"field": prefix or None, "message": str(detail), "code": getattr(detail, "code", None)}
    ]


def from_drf(exc: Exception) -> EngiumError | None:
    """Translate DRF and Django exceptions to ours; None for anything unexpected."""
    if isinstance(exc, EngiumError):
        return exc
    if isinstance(exc, drf.ValidationError):
        details = _details_from_validation(exc.detail)
        first = details[0] if details else {"field": None, "message": ValidationFailed.message}
        return ValidationFailed(
            first["message"],
            field=first["field"],
            details=[{k: v for k, v in d.items() if v is not None} for d in details],
        )
    if isinstance(exc, drf.ParseError):
        return MalformedJSON(str(exc.detail))
    if isinstance(exc, drf.UnsupportedMediaType):
        return UnsupportedMediaType()
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return AuthenticationFailed()
    if isinstance(exc, drf.PermissionDenied | PermissionDenied):
        return PermissionDeniedError()
    if isinstance(exc, drf.NotFound | Http404):
        return NotFound()
    if isinstance(exc, drf.MethodNotAllowed):
        return MethodNotAllowed()
    if isinstance(exc, drf.NotAcceptable):
        return NotAcceptable()
    if isinstance(exc, drf.Throttled):
        wait = int(getattr(exc, "wait", None) or 1)
        return RateLimited(headers={"Retry-After": str(wait)})
    if isinstance(exc, drf.APIException):
        error = EngiumError(str(exc.detail))
        error.status = exc.status_code
        error.code = str(exc.default_code)
        return error
    return None


def handle_exception(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: every error, expected or not, leaves in the documented shape."""
    error = from_drf(exc)
    if error is None:
        logger.exception("unhandled error in API view", exc_info=exc)
        error = InternalError()
    from rest_framework.views import set_rollback  # imported late: it loads DRF's settings

    # Whatever the view wrote in the request's transaction is undone: an error changes nothing.
    set_rollback()
    response = Response(error.as_dict(), status=error.status)
    for name, value in error.headers.items():
        response[name] = value
    return response
