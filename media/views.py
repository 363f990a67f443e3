"""Media API (`/api/v1/media`) and the signed media URLs providers fetch (`/media/{token}`)."""

from __future__ import annotations

from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from engium.api.errors import error_response
from engium.api.openapi import AUTH_ERRORS, error_responses
from engium.api.pagination import paginate
from engium.api.views import EngiumAPIView
from engium.exceptions import EngiumError, MethodNotAllowed, NotFound
from engium.tenancy import use_public_schema, use_tenant
from media import selectors, services, signing
from media.models import MediaFile
from media.openapi import MEDIA_ID, MediaPageSerializer, MediaSerializer
from media.serializers import MediaListQuery, MediaUploadSerializer, render_media
from media.uploads import BoundedTemporaryFileUploadHandler
from tenants.models import Tenant

_UPLOAD_400 = (
    "The form is not valid (`validation_error`, e.g. no `file`); the content is not a "
    "supported type (`unsupported_file_type`); its name, declared type or `media_type` "
    "contradicts the content (`media_type_mismatch`); or the `channel` does not take it "
    "(`media_too_large`, `media_not_supported`)."
)


class MediaListView(EngiumAPIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="media_list",
        summary="List media files",
        description="The tenant's media files, newest first, each with a fresh signed URL.",
        parameters=[MediaListQuery],
        responses={200: MediaPageSerializer, **error_responses(400, *AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        query = self.parse_query(MediaListQuery)
        rows = selectors.filter_media(query)
        return Response(paginate(rows, query, lambda page: [render_media(row) for row in page]))

    @extend_schema(
        operation_id="media_create",
        summary="Upload a media file",
        description=(
            "Upload a file as `multipart/form-data` (field `file`, at most 100 MB). Its type "
            "is detected from its content: JPEG and PNG images; AAC, MP4, MPEG, AMR and OGG "
            "audio; MP4 and 3GPP video; PDF, plain text, Word, Excel and PowerPoint documents. "
            "The answer's `media_url` is what a send takes as `message.media_url`. With "
            "`channel`, the channel's limits are checked now (WhatsApp: images 5 MB, audio "
            "and video 16 MB, documents 100 MB; SMS/MMS: 5 MB); a send checks them always."
        ),
        request={"multipart/form-data": MediaUploadSerializer},
        responses={
            201: OpenApiResponse(MediaSerializer, description="The stored file."),
            **error_responses(
                400,
                401,
                403,
                413,
                415,
                e400=_UPLOAD_400,
                e413="The body or the file is larger than 100 MB (`payload_too_large`).",
                e415="The body is not `multipart/form-data` (`unsupported_media_type`).",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        # Before the body is parsed: the file streams to a temporary file.
        request._request.upload_handlers = [BoundedTemporaryFileUploadHandler(request._request)]
        data = self.parse_body(MediaUploadSerializer)
        upload = data["file"]
        try:
            media = services.store_media(
                upload,
                original_name=upload.name or "",
                declared_type=upload.content_type or "",
                media_type=data.get("media_type"),
                channel=data.get("channel"),
            )
        finally:
            upload.close()  # removes the temporary file (if it was not moved into storage)
        return Response(render_media(media), status=status.HTTP_201_CREATED)


class MediaDetailView(EngiumAPIView):
    @extend_schema(
        operation_id="media_retrieve",
        summary="A media file",
        description="A media file with a fresh signed URL (valid for `expires_at`).",
        parameters=[MEDIA_ID],
        responses={200: MediaSerializer, **error_responses(*AUTH_ERRORS, 404)},
    )
    def get(self, request: Request, media_id: str) -> Response:
        return Response(render_media(selectors.get_media(media_id)))

    @extend_schema(
        operation_id="media_destroy",
        summary="Delete a media file",
        description=(
            "Delete the file and its bytes. Its URLs, including those in messages, then "
            "answer 404; messages already handed to a provider are not affected."
        ),
        parameters=[MEDIA_ID],
        responses={
            204: OpenApiResponse(description="Deleted."),
            **error_responses(*AUTH_ERRORS, 404),
        },
    )
    def delete(self, request: Request, media_id: str) -> Response:
        services.delete_media(media_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MediaURLExpiredError(EngiumError):
    code = "media_url_expired"
    status = 410
    message = "This media URL has expired."


_NOT_FOUND = "No media at this URL."


@csrf_exempt
def serve_media(request: HttpRequest, token: str) -> HttpResponseBase:
    """``GET /media/{token}``: the file, for whoever holds the signed URL (no API key).

    A tampered or unknown token, another tenant's, and a deleted file all answer the same
    404; a genuine but expired one answers 410. No answer says which tenants or files exist.
    """
    if request.method not in {"GET", "HEAD"}:
        return error_response(MethodNotAllowed(headers={"Allow": "GET, HEAD"}))
    try:
        parsed = signing.read_token(token)
    except signing.ExpiredMediaURL:
        return error_response(MediaURLExpiredError())
    except signing.BadMediaURL:
        return error_response(NotFound(_NOT_FOUND))
    try:
        tenant = Tenant.objects.filter(public_id=parsed.tenant_id).first()
        if tenant is None:
            return error_response(NotFound(_NOT_FOUND))
        use_tenant(tenant)
        media = MediaFile.objects.filter(pk=parsed.media_id).first()
        if media is None:
            return error_response(NotFound(_NOT_FOUND))
        try:
            stream = services.media_storage().open(media.storage_path, "rb")
        except FileNotFoundError:
            return error_response(NotFound(_NOT_FOUND))
    finally:
        use_public_schema()
    response: HttpResponseBase
    if request.method == "HEAD":
        stream.close()
        response = HttpResponse(content_type=media.content_type)
    else:
        response = FileResponse(stream, content_type=media.content_type)
    response["Content-Length"] = str(media.size)
    response["Content-Disposition"] = _disposition(media)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    # Nothing in a media file runs as a page of ours, whatever a browser makes of it.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _disposition(media: MediaFile) -> str:
    name = media.original_name or media.storage_path.rsplit("/", 1)[-1]
    return content_disposition_header(as_attachment=False, filename=name) or "inline"
