"""Integrations API (Settings → Integrations by API), and the sandbox's inbound simulator."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from conversations.serializers import SandboxInboundSerializer, render_message
from conversations.services import receive_callback
from engium.api.errors import NotFound
from engium.api.pagination import paginate
from engium.api.views import EngiumAPIView
from integrations import services
from integrations.models import Integration
from integrations.serializers import (
    IntegrationCreateSerializer,
    IntegrationListQuery,
    IntegrationUpdateSerializer,
    render_integration,
)


def _get_integration(integration_id: str) -> Integration:
    integration = Integration.objects.filter(pk=integration_id).first()
    if integration is None:
        raise NotFound("No integration with this ID exists.")
    return integration


class IntegrationListView(EngiumAPIView):
    @extend_schema(parameters=[IntegrationListQuery], summary="List integrations")
    def get(self, request: Request) -> Response:
        query = self.parse_query(IntegrationListQuery)
        rows = Integration.objects.all()
        for field in ("channel", "status"):
            if query.get(field):
                rows = rows.filter(**{field: query[field]})
        return Response(
            paginate(rows, query, lambda page: [render_integration(row) for row in page])
        )

    @extend_schema(request=IntegrationCreateSerializer, summary="Connect a channel")
    def post(self, request: Request) -> Response:
        data = self.parse_body(IntegrationCreateSerializer)
        integration = services.connect_integration(**data)
        return Response(render_integration(integration), status=status.HTTP_201_CREATED)


class IntegrationDetailView(EngiumAPIView):
    @extend_schema(summary="An integration")
    def get(self, request: Request, integration_id: str) -> Response:
        return Response(render_integration(_get_integration(integration_id)))

    @extend_schema(request=IntegrationUpdateSerializer, summary="Change an integration")
    def patch(self, request: Request, integration_id: str) -> Response:
        data = self.parse_body(IntegrationUpdateSerializer)
        integration = services.update_integration(integration_id, **data)
        return Response(render_integration(integration))

    @extend_schema(summary="Remove an integration")
    def delete(self, request: Request, integration_id: str) -> Response:
        services.remove_integration(integration_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SandboxInboundView(EngiumAPIView):
    @extend_schema(request=SandboxInboundSerializer, summary="Simulate a recipient writing in")
    def post(self, request: Request, integration_id: str) -> Response:
        integration = _get_integration(integration_id)
        if integration.provider != "sandbox":
            raise NotFound("Only sandbox integrations simulate inbound messages.")
        payload = self.parse_body(SandboxInboundSerializer)
        messages = receive_callback(integration, payload)
        return Response(render_message(messages[0]), status=status.HTTP_201_CREATED)
