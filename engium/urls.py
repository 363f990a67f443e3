import sys

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from conversations.callback_views import provider_callback
from engium import health
from engium.api import openapi as _openapi  # noqa: F401  # registers the OpenAPI extensions
from engium.api.converters import PublicIdConverter
from engium.api.errors import error_response, from_drf
from engium.exceptions import InternalError, NotFound, PermissionDeniedError, ValidationFailed
from engium.middleware import is_api_request
from media.views import serve_media

register_converter(PublicIdConverter, "public_id")

# The send is the API's hottest path: its app's URLs are tried first. No two apps' paths
# match the same URL, so the order changes nothing else.
api_v1: list[URLPattern | URLResolver] = [
    path("", include("conversations.urls")),
    path("", include("agents.urls")),
    path("", include("integrations.urls")),
    path("", include("message_templates.urls")),
    path("", include("tenants.urls")),
    path("", include("webhooks.urls")),
    path("", include("media.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # The developer portal: guides with examples (portal/pages/*.md).
    path("docs/", include("portal.urls")),
    path("admin/", admin.site.urls),
    path("console/", include("console.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("status", health.status_page, name="status"),
    # Providers' callbacks: outside /api/v1 (no API key; each is verified by its signature).
    path(
        "callbacks/<str:tenant_id>/<str:integration_id>/<slug:kind>",
        provider_callback,
        name="provider-callback",
    ),
    # Signed media URLs, fetched by providers without an API key (media.signing).
    path("media/<str:token>", serve_media, name="media-file"),
]


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return error_response(ValidationFailed("The request is not valid."))
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return error_response(PermissionDeniedError())
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return error_response(NotFound())
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        # Django calls this while handling the exception: a database outage in a middleware
        # (the tenant's key looked up) is a 503 to retry, as it is in a view.
        raised = sys.exc_info()[1]
        error = from_drf(raised) if isinstance(raised, Exception) else None
        return error_response(error or InternalError())
    from django.views.defaults import server_error

    return server_error(request)
