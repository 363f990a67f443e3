"""API keys API: a tenant lists, creates and revokes its own keys.

Keys live in the `public` schema while the request runs in the tenant's: every read names
the tenant (`tenants.selectors`), so another tenant's key is simply not found.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from engium.api.openapi import AUTH_ERRORS, BODY_ERRORS, MALFORMED_BODY, error_responses
from engium.api.pagination import paginate
from engium.api.views import EngiumAPIView
from tenants import selectors, services
from tenants.authentication import ApiPrincipal
from tenants.models import Tenant
from tenants.openapi import API_KEY_ID, ApiKeyPageSerializer, ApiKeySerializer, NewApiKeySerializer
from tenants.serializers import (
    ApiKeyCreateSerializer,
    ApiKeyListQuery,
    render_api_key,
    render_new_api_key,
)


def _tenant(request: Request) -> Tenant:
    """The caller's tenant, as `TenantHeaderMiddleware` resolved it (``request.tenant``)."""
    principal = request.user
    assert isinstance(principal, ApiPrincipal)  # ApiKeyAuthentication refuses anyone else
    return principal.tenant


class ApiKeyListView(EngiumAPIView):
    @extend_schema(
        operation_id="api_keys_list",
        summary="List API keys",
        description=(
            "The tenant's API keys, revoked ones included, newest first; cursor-paginated. "
            "Keys are shown by their `prefix`, never in full."
        ),
        parameters=[ApiKeyListQuery],
        responses={200: ApiKeyPageSerializer, **error_responses(400, *AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        query = self.parse_query(ApiKeyListQuery)
        rows = selectors.filter_api_keys(_tenant(request))
        return Response(paginate(rows, query, lambda page: [render_api_key(k) for k in page]))

    @extend_schema(
        operation_id="api_keys_create",
        summary="Create an API key",
        description=(
            "Create an API key for the tenant. It works at once. The answer is the only one "
            "that shows the key (`key`): Engium keeps only its hash."
        ),
        request=ApiKeyCreateSerializer,
        responses={
            201: OpenApiResponse(NewApiKeySerializer, description="The new key, shown once."),
            **error_responses(
                *BODY_ERRORS,
                e400=f"`name` is missing or not valid (`validation_error`); or {MALFORMED_BODY}.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.parse_body(ApiKeyCreateSerializer)
        issued = services.create_api_key(_tenant(request), name=data["name"])
        return Response(render_new_api_key(issued), status=status.HTTP_201_CREATED)


class ApiKeyDetailView(EngiumAPIView):
    @extend_schema(
        operation_id="api_keys_retrieve",
        summary="An API key",
        description="One of the tenant's API keys, shown by its `prefix`, never in full.",
        parameters=[API_KEY_ID],
        responses={200: ApiKeySerializer, **error_responses(*AUTH_ERRORS, 404)},
    )
    def get(self, request: Request, key_id: str) -> Response:
        return Response(render_api_key(selectors.get_api_key(_tenant(request), key_id)))


class RevokeApiKeyView(EngiumAPIView):
    @extend_schema(
        operation_id="api_keys_revoke",
        summary="Revoke an API key",
        description=(
            "Revoke one of the tenant's API keys: it authenticates no request from then on, "
            "the key making this request included. The key stays listed, with its "
            "`revoked_at`; revoking a revoked key changes nothing. Takes no body."
        ),
        request=None,
        parameters=[API_KEY_ID],
        responses={
            200: OpenApiResponse(ApiKeySerializer, description="The revoked key."),
            **error_responses(*AUTH_ERRORS, 404, 413, 415),
        },
    )
    def post(self, request: Request, key_id: str) -> Response:
        api_key = services.revoke_api_key(selectors.get_api_key(_tenant(request), key_id))
        return Response(render_api_key(api_key))
