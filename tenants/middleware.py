"""Routes API requests to their tenant's schema by the `X-Tenant-ID` header.

django-tenants' own middleware routes by host name and turns unknown hosts into 404 or
500; ours authenticates first and answers every failure with the JSON error shape.
Everything outside the authenticated API (admin, console, health, docs) runs in `public`.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django_tenants.utils import get_public_schema_name

from engium.api.errors import error_response
from engium.exceptions import EngiumError
from engium.tenancy import current_schema, use_public_schema, use_tenant
from tenants.authentication import authenticate_api_request

API_PREFIX = "/api/v1/"
PUBLIC_API_PATHS = ("/api/v1/schema/",)
PUBLIC_SCHEMA = get_public_schema_name()


class TenantHeaderMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info  # what the URL resolver routes by
        if not path.startswith(API_PREFIX) or path.startswith(PUBLIC_API_PATHS):
            # A persistent connection already on `public` keeps its search_path: no `SET`.
            if current_schema() != PUBLIC_SCHEMA:
                use_public_schema()
            return self.get_response(request)
        try:
            principal = authenticate_api_request(
                request.headers.get("X-Tenant-ID"), request.headers.get("Authorization")
            )
        except EngiumError as error:
            return error_response(error)
        request.tenant = principal.tenant  # type: ignore[attr-defined]
        request.api_principal = principal  # type: ignore[attr-defined]
        # A persistent connection already on this schema keeps its search_path: no `SET`.
        if current_schema() != principal.tenant.schema_name:
            use_tenant(principal.tenant)
        return self.get_response(request)
