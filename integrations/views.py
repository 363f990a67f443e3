"""Integrations API (Settings → Integrations by API)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from engium.api.openapi import AUTH_ERRORS, BODY_ERRORS, MALFORMED_BODY, error_responses
from engium.api.pagination import paginate
from engium.api.views import EngiumAPIView
from integrations import selectors, services
from integrations.models import Integration
from integrations.openapi import INTEGRATION_ID, IntegrationPageSerializer, IntegrationSerializer
from integrations.serializers import (
    IntegrationCreateSerializer,
    IntegrationListQuery,
    IntegrationUpdateSerializer,
    render_integration,
)

_CREATE_400 = (
    "A field is not valid, including an unknown provider, a provider that does not serve the "
    f"channel, or a `config` the provider refuses (`validation_error`); or {MALFORMED_BODY}."
)
_UPDATE_400 = (
    "A field is not valid, including a `config` the provider refuses (`validation_error`); "
    f"or {MALFORMED_BODY}."
)


class IntegrationListView(EngiumAPIView):
    @extend_schema(
        operation_id="integrations_list",
        summary="List integrations",
        description="The tenant's channel integrations, newest first; cursor-paginated.",
        parameters=[IntegrationListQuery],
        responses={200: IntegrationPageSerializer, **error_responses(400, *AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        query = self.parse_query(IntegrationListQuery)
        rows = Integration.objects.all()
        for field in ("channel", "status"):
            if query.get(field):
                rows = rows.filter(**{field: query[field]})
        return Response(
            paginate(rows, query, lambda page: [render_integration(row) for row in page])
        )

    @extend_schema(
        operation_id="integrations_create",
        summary="Connect a channel",
        description=(
            "Connect a channel to a provider. The channel's first active integration becomes "
            "its default; `is_default: true` makes the new one the default."
        ),
        request=IntegrationCreateSerializer,
        responses={
            201: OpenApiResponse(IntegrationSerializer, description="The new integration."),
            **error_responses(*BODY_ERRORS, e400=_CREATE_400),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.parse_body(IntegrationCreateSerializer)
        integration = services.connect_integration(**data)
        return Response(render_integration(integration), status=status.HTTP_201_CREATED)


class IntegrationDetailView(EngiumAPIView):
    @extend_schema(
        operation_id="integrations_retrieve",
        summary="An integration",
        description="An integration; secret settings are listed by name only.",
        parameters=[INTEGRATION_ID],
        responses={200: IntegrationSerializer, **error_responses(*AUTH_ERRORS, 404)},
    )
    def get(self, request: Request, integration_id: str) -> Response:
        return Response(render_integration(selectors.get_integration(integration_id)))

    @extend_schema(
        operation_id="integrations_update",
        summary="Change an integration",
        description=(
            "Change the given fields only. A `config` replaces the public settings and keeps "
            "the secrets it leaves out."
        ),
        request=IntegrationUpdateSerializer,
        parameters=[INTEGRATION_ID],
        responses={
            200: OpenApiResponse(IntegrationSerializer, description="The changed integration."),
            **error_responses(*BODY_ERRORS, 404, e400=_UPDATE_400),
        },
    )
    def patch(self, request: Request, integration_id: str) -> Response:
        data = self.parse_body(IntegrationUpdateSerializer)
        integration = services.update_integration(integration_id, **data)
        return Response(render_integration(integration))

    @extend_schema(
        operation_id="integrations_destroy",
        summary="Remove an integration",
        description=(
            "Delete an integration; another active one of its channel becomes the default. Its "
            "messages keep their history; queued ones fail with `integration_unavailable`."
        ),
        parameters=[INTEGRATION_ID],
        responses={
            204: OpenApiResponse(description="Removed."),
            **error_responses(*AUTH_ERRORS, 404),
        },
    )
    def delete(self, request: Request, integration_id: str) -> Response:
        services.remove_integration(integration_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class IntegrationTestView(EngiumAPIView):
    @extend_schema(
        operation_id="integrations_test",
        summary="Test an integration's credentials",
        description=(
            "Ask the provider whether it accepts the integration's credentials with a "
            "harmless read (Twilio: the account; WhatsApp Cloud: the phone number). The "
            "verdict is kept in `verification` (`verified` or `failed`, the reason in "
            "`verification_detail`); `status` does not change. Takes no body."
        ),
        request=None,
        parameters=[INTEGRATION_ID],
        responses={
            200: OpenApiResponse(IntegrationSerializer, description="The tested integration."),
            **error_responses(*AUTH_ERRORS, 404, 413, 415),
        },
    )
    def post(self, request: Request, integration_id: str) -> Response:
        return Response(render_integration(services.verify_integration(integration_id)))
