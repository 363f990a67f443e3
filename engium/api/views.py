"""The base view of every API endpoint."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from engium.exceptions import UnsupportedMediaType

_BODY_METHODS = {"POST", "PUT", "PATCH"}
#: The Accept headers nearly every client sends, which take JSON without negotiating.
PLAIN_ACCEPTS = frozenset({"*/*", "application/json"})


class EngiumAPIView(APIView):
    """JSON in, JSON out; a body in any other content type is a 415, never silently ignored."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method in _BODY_METHODS and _has_body(request):
            media_type = (request.content_type or "").split(";")[0].strip().lower()
            accepted = sorted({parser.media_type for parser in self.get_parsers()})
            if media_type not in accepted:
                raise UnsupportedMediaType(f"Send the request body as {' or '.join(accepted)}.")

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # What DRF's negotiation answers for the Accept headers nearly every client sends
        # (none, */*, application/json) and no format override, without parsing them.
        renderers = self.get_renderers()
        if (
            request._request.META.get("HTTP_ACCEPT", "*/*") in PLAIN_ACCEPTS
            and not self.format_kwarg
            and not request._request.META.get("QUERY_STRING")
            and renderers
            and renderers[0].media_type == "application/json"
        ):
            return renderers[0], "application/json"
        return super().perform_content_negotiation(request, force)

    def parse_query(self, serializer_class: type[Serializer]) -> dict[str, Any]:
        serializer = serializer_class(data=self.request.query_params)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def parse_body(self, serializer_class: type[Serializer], **kwargs: Any) -> dict[str, Any]:
        return validated(serializer_class, self.request.data, **kwargs)


def validated(serializer_class: type[Serializer], data: Any, **kwargs: Any) -> dict[str, Any]:
    """``data`` validated by ``serializer_class``, or its `ValidationError`."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _has_body(request: Request) -> bool:
    meta = request._request.META
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return length > 0 or "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower()
