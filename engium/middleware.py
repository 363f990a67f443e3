"""Process-wide middleware: request IDs, and the guard on request bodies and API answers."""

from __future__ import annotations

import io
import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse

from engium.api.errors import error_response, from_drf
from engium.exceptions import EngiumError, InternalError, MalformedBody, PayloadTooLarge
from engium.logging import current_request_id

logger = logging.getLogger(__name__)

#: How much of an oversized chunked body is read and dropped so that its 413 arrives.
DRAIN_LIMIT_BYTES = 16 * 1024 * 1024
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
    """Whether the request is for the API, by the path the URL resolver sees (``path_info``).

    ``request.path`` also holds ``SCRIPT_NAME``, which a client can influence: a check on it
    could disagree with the view that answers.
    """
    return request.path_info.startswith("/api/")


class ApiGuardMiddleware:
    """Every body is read in full or refused; API answers are JSON and never cached.

    * A ``Content-Length`` over ``ENGIUM_MAX_BODY_BYTES`` is a 413 before anything is read.
    * A chunked body (no ``Content-Length``) is read here, up to the limit, and handed on as
      if its length had been given: Django and DRF would otherwise see an empty body and a
      request could "succeed" without its body ever being read. Over the limit: 413.
    * API answers carry ``Cache-Control: no-store``: they hold a tenant's messages.
    * Any error escaping a view under ``/api/`` becomes the JSON 500.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refused = self._read_body(request)
        response = refused or self.get_response(request)
        if is_api_request(request):
            response.setdefault("Cache-Control", "no-store")
        return response

    def _read_body(self, request: HttpRequest) -> HttpResponse | None:
        limit = settings.ENGIUM_MAX_BODY_BYTES
        meta = request.META
        try:
            length = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return _too_large(request)
        if length or "chunked" not in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
            return None
        # The WSGI server has removed the chunk framing; the stream ends with the body.
        stream = meta["wsgi.input"]
        try:
            body = stream.read(limit + 1)
        except Exception:  # the server's chunk parser: a bad size, a missing terminator, EOF
            logger.warning("unreadable chunked request body", exc_info=True)
            response = _refused(request, MalformedBody(), status=400)
            response["Connection"] = "close"
            return response
        if len(body) > limit:
            # Read on (to a bound) before answering: a server that closes a connection with
            # unread data resets it, and the client never sees the 413.
            drained = 0
            while drained < DRAIN_LIMIT_BYTES and (chunk := stream.read(64 * 1024)):
                drained += len(chunk)
            response = _too_large(request)
            response["Connection"] = "close"
            return response
        meta["CONTENT_LENGTH"] = str(len(body))
        request._stream = LimitedStream(io.BytesIO(body), len(body))  # type: ignore[assignment]
        request._read_started = False  # type: ignore[attr-defined]
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_request(request):
            return None
        error = from_drf(exception)
        if error is None:
            logger.exception("unhandled error", exc_info=exception)
            error = InternalError()
        return error_response(error)


def _too_large(request: HttpRequest) -> HttpResponse:
    return _refused(request, PayloadTooLarge(), status=413)


def _refused(request: HttpRequest, error: EngiumError, *, status: int) -> HttpResponse:
    if is_api_request(request):
        return error_response(error)
    return HttpResponse(error.message, status=status, content_type="text/plain")
