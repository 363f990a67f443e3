"""The one place that renders errors as HTTP answers.

Every error answer is ``{"error": {"code", "message", "field"?, "details"?}}``
(docs/api.md#errors). Services raise `engium.exceptions.EngiumError` subclasses; DRF's own
exceptions are translated here too, so no view or middleware builds error JSON by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from engium.exceptions import (
    AuthenticationFailed,
    EngiumError,
    InternalError,
    MalformedJSON,
    MethodNotAllowed,
    NotAcceptable,
    NotFound,
    PermissionDeniedError,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)

logger = logging.getLogger(__name__)

#: An error answer lists at most this many problems, and then how many there were in all.
MAX_DETAILS = 20


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
        failed = ValidationFailed(
            first["message"],
            field=first["field"],
            details=[{k: v for k, v in d.items() if v is not None} for d in details[:MAX_DETAILS]],
        )
        if len(details) > MAX_DETAILS:
            failed.details_total = len(details)
        return failed
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
    if isinstance(exc, OperationalError | InterfaceError):
        # PostgreSQL restarting or failing over, or a deadlock: a 503 to retry, not a 500.
        logger.warning("database unavailable: %s", type(exc).__name__, exc_info=exc)
        return ServiceUnavailable()
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
