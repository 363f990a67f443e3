"""Process-wide middleware: request IDs, and the guard that keeps every API answer JSON."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from engium.api.errors import error_response
from engium.exceptions import InternalError, PayloadTooLarge
from engium.logging import current_request_id

logger = logging.getLogger(__name__)

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIDMiddleware:
    """Gives every request an ID (or keeps a sane incoming one) for logs and `X-Request-ID`."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else f"req_{uuid.uuid4().hex}"
        request.request_id = request_id  # type: ignore[attr-defined]
        # Not reset on the way out: Django logs the response after the middleware returns.
        current_request_id.set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


class ApiGuardMiddleware:
    """Refuses oversized API bodies before they are read, and turns any escaped error into JSON."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_request(request):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.ENGIUM_MAX_BODY_BYTES:
                return error_response(PayloadTooLarge())
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_request(request):
            return None
        logger.exception("unhandled error", exc_info=exception)
        return error_response(InternalError())
