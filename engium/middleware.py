"""Process-wide middleware: request IDs, and the guard on request bodies and API answers."""

from __future__ import annotations

import io
import logging
import re
import uuid
from collections.abc import Callable
from tempfile import SpooledTemporaryFile
from typing import Any

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

    * A ``Content-Length`` over ``ENGIUM_MAX_BODY_BYTES`` is a 413 before the view runs; the
      body is read and dropped first, up to ``DRAIN_LIMIT_BYTES`` (`_refuse_too_large`).
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
        spooled = getattr(request, "_spooled_body", None)
        if spooled is not None:
            response._resource_closers.append(spooled.close)  # type: ignore[attr-defined]
        if is_api_request(request):
            response.setdefault("Cache-Control", "no-store")
        return response

    def _read_body(self, request: HttpRequest) -> HttpResponse | None:
        upload = is_media_upload(request)
        limit = settings.ENGIUM_MEDIA_MAX_UPLOAD_BYTES if upload else settings.ENGIUM_MAX_BODY_BYTES
        meta = request.META
        try:
            length = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            # A declared length the proxy lets through (at most DRAIN_LIMIT_BYTES) is read
            # before the 413 too; a larger one is answered at once.
            stream = meta["wsgi.input"] if length <= DRAIN_LIMIT_BYTES else None
            return _refuse_too_large(request, limit, stream, length)
        if length or "chunked" not in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
            return None
        # The WSGI server has removed the chunk framing; the stream ends with the body.
        stream = meta["wsgi.input"]
        try:
            body = _spool(stream, limit) if upload else stream.read(limit + 1)
        except Exception:  # the server's chunk parser: a bad size, a missing terminator, EOF
            logger.warning("unreadable chunked request body", exc_info=True)
            response = _refused(request, MalformedBody(), status=400)
            response["Connection"] = "close"
            return response
        size = body.tell() if isinstance(body, SpooledTemporaryFile) else len(body)
        if size > limit:
            return _refuse_too_large(request, limit, stream)
        meta["CONTENT_LENGTH"] = str(size)
        if isinstance(body, SpooledTemporaryFile):
            body.seek(0)
            request._stream = LimitedStream(body, size)  # type: ignore[assignment,arg-type]
            # Closed (and its disk file removed) with the response.
            request._spooled_body = body  # type: ignore[attr-defined]
        else:
            request._stream = LimitedStream(io.BytesIO(body), size)  # type: ignore[assignment]
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


def _refuse_too_large(
    request: HttpRequest, limit: int, stream: Any, left: int = DRAIN_LIMIT_BYTES
) -> HttpResponse:
    """The 413, after reading what is left of the body from ``stream``: at most ``left``
    bytes (its declared length, else the bound); None: nothing. A server that closes a
    connection with unread data resets it, and the client (or the proxy in front, which
    then answers 502) never sees the 413."""
    try:
        while stream is not None and left > 0:
            chunk = stream.read(min(left, 64 * 1024))
            if not chunk:
                break
            left -= len(chunk)
    except Exception:  # the body ends short, or the client went: the 413 stands all the same
        logger.info("request body ended before its declared length", exc_info=True)
    response = _too_large(request, limit)
    response["Connection"] = "close"
    return response


def is_media_upload(request: HttpRequest) -> bool:
    """A media upload (``POST /api/v1/media``) may carry up to ``ENGIUM_MEDIA_MAX_UPLOAD_BYTES``;
    every other request, ``ENGIUM_MAX_BODY_BYTES``."""
    return request.method == "POST" and request.path_info.rstrip("/") == "/api/v1/media"


def _spool(stream: Any, limit: int) -> SpooledTemporaryFile[bytes]:
    """Copy a chunked body to a temporary file (on disk past 1 MiB), up to ``limit + 1`` bytes."""
    # Not a `with`: the file outlives this function (closed with the response).
    body: SpooledTemporaryFile[bytes] = SpooledTemporaryFile(  # noqa: SIM115
        max_size=settings.ENGIUM_MAX_BODY_BYTES
    )
    remaining = limit + 1
    while remaining > 0 and (chunk := stream.read(min(remaining, 64 * 1024))):
        body.write(chunk)
        remaining -= len(chunk)
    return body


def _too_large(request: HttpRequest, limit: int) -> HttpResponse:
    message = (
        f"The request body is larger than {limit} bytes."
        if limit != settings.ENGIUM_MAX_BODY_BYTES
        else None
    )
    return _refused(request, PayloadTooLarge(message), status=413)


def _refused(request: HttpRequest, error: EngiumError, *, status: int) -> HttpResponse:
    if is_api_request(request):
        return error_response(error)
    return HttpResponse(error.message, status=status, content_type="text/plain")
