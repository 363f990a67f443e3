"""Webhooks API (Settings → Webhooks by API): endpoints, secrets, deliveries, replays."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from engium.api.openapi import AUTH_ERRORS, BODY_ERRORS, MALFORMED_BODY, error_responses
from engium.api.pagination import paginate
from engium.api.views import EngiumAPIView
from webhooks import selectors, services
from webhooks.models import Endpoint
from webhooks.openapi import (
    DELIVERY_ID,
    ENDPOINT_ID,
    WebhookDeliveryPageSerializer,
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointPageSerializer,
    WebhookEndpointSerializer,
    WebhookReplayedSerializer,
    WebhookSecretSerializer,
)
from webhooks.serializers import (
    DeliveryListQuery,
    EndpointCreateSerializer,
    EndpointListQuery,
    EndpointUpdateSerializer,
    ReplaySerializer,
    render_delivery,
    render_endpoint,
    render_secret,
)

_URL_400 = (
    "A field is not valid, including a URL that is not `https` or resolves to a private, "
    f"loopback or link-local address, or an unknown event type (`validation_error`); or "
    f"{MALFORMED_BODY}."
)


class EndpointListView(EngiumAPIView):
    @extend_schema(
        operation_id="webhooks_list",
        summary="List webhook endpoints",
        description="The tenant's webhook endpoints, newest first; cursor-paginated.",
        parameters=[EndpointListQuery],
        responses={200: WebhookEndpointPageSerializer, **error_responses(400, *AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        query = self.parse_query(EndpointListQuery)
        rows = Endpoint.objects.all()
        return Response(paginate(rows, query, lambda page: [render_endpoint(e) for e in page]))

    @extend_schema(
        operation_id="webhooks_create",
        summary="Add a webhook endpoint",
        description=(
            "Subscribe a URL to event types. The answer holds the signing `secret`; it can be "
            "read again with `GET /webhooks/{endpoint_id}/secret`."
        ),
        request=EndpointCreateSerializer,
        responses={
            201: OpenApiResponse(WebhookEndpointCreatedSerializer, description="The endpoint."),
            **error_responses(*BODY_ERRORS, e400=_URL_400),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.parse_body(EndpointCreateSerializer)
        endpoint = services.create_endpoint(**data)
        return Response(render_endpoint(endpoint, with_secret=True), status=status.HTTP_201_CREATED)


class EndpointDetailView(EngiumAPIView):
    @extend_schema(
        operation_id="webhooks_retrieve",
        summary="A webhook endpoint",
        description="A webhook endpoint (without its secret).",
        parameters=[ENDPOINT_ID],
        responses={200: WebhookEndpointSerializer, **error_responses(*AUTH_ERRORS, 404)},
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        return Response(render_endpoint(selectors.get_endpoint(endpoint_id)))

    @extend_schema(
        operation_id="webhooks_update",
        summary="Change a webhook endpoint",
        description=(
            "Change the given fields only. Enabling an endpoint clears `disabled_reason` and "
            "resumes the deliveries it still owes; disabling it holds them."
        ),
        request=EndpointUpdateSerializer,
        parameters=[ENDPOINT_ID],
        responses={
            200: OpenApiResponse(WebhookEndpointSerializer, description="The changed endpoint."),
            **error_responses(*BODY_ERRORS, 404, e400=_URL_400),
        },
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        data = self.parse_body(EndpointUpdateSerializer)
        return Response(render_endpoint(services.update_endpoint(endpoint_id, **data)))

    @extend_schema(
        operation_id="webhooks_destroy",
        summary="Remove a webhook endpoint",
        description="Delete an endpoint, its pending deliveries and its delivery log.",
        parameters=[ENDPOINT_ID],
        responses={
            204: OpenApiResponse(description="Removed."),
            **error_responses(*AUTH_ERRORS, 404),
        },
    )
    def delete(self, request: Request, endpoint_id: str) -> Response:
        services.delete_endpoint(endpoint_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointSecretView(EngiumAPIView):
    @extend_schema(
        operation_id="webhooks_secret",
        summary="A webhook endpoint's secret",
        description="The secret deliveries to this endpoint are signed with.",
        parameters=[ENDPOINT_ID],
        responses={200: WebhookSecretSerializer, **error_responses(*AUTH_ERRORS, 404)},
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        return Response(render_secret(selectors.get_endpoint(endpoint_id)))


class EndpointRotateSecretView(EngiumAPIView):
    @extend_schema(
        operation_id="webhooks_rotate_secret",
        summary="Rotate a webhook endpoint's secret",
        description=(
            "A new secret. For 24 hours the previous one keeps signing too: each delivery "
            "carries both signatures, space-separated, so receivers can switch at leisure."
        ),
        request=None,
        parameters=[ENDPOINT_ID],
        responses={200: WebhookSecretSerializer, **error_responses(*AUTH_ERRORS, 404)},
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        return Response(render_secret(services.rotate_endpoint_secret(endpoint_id)))


class EndpointTestView(EngiumAPIView):
    @extend_schema(
        operation_id="webhooks_test",
        summary="Send a test event",
        description=(
            "Deliver a `webhook.test` event to this endpoint only, signed and retried like any "
            "other; the answer is the delivery, whose attempts follow in the delivery log."
        ),
        request=None,
        parameters=[ENDPOINT_ID],
        responses={
            202: OpenApiResponse(WebhookDeliverySerializer, description="The delivery, queued."),
            **error_responses(*AUTH_ERRORS, 404),
        },
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        delivery = services.send_test_event(endpoint_id)
        return Response(
            render_delivery(selectors.get_delivery(endpoint_id, delivery.event_id)),
            status=status.HTTP_202_ACCEPTED,
        )


class DeliveryListView(EngiumAPIView):
    @extend_schema(
        operation_id="webhooks_deliveries_list",
        summary="An endpoint's delivery log",
        description=(
            "Deliveries to this endpoint, newest event first, each with its attempts "
            "(successes too, kept 90 days); cursor-paginated."
        ),
        parameters=[ENDPOINT_ID, DeliveryListQuery],
        responses={200: WebhookDeliveryPageSerializer, **error_responses(400, *AUTH_ERRORS, 404)},
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        query = self.parse_query(DeliveryListQuery)
        rows = selectors.filter_deliveries(endpoint_id, status=query.get("status"))
        return Response(
            paginate(rows, query, lambda page: [render_delivery(d) for d in page], key="event_id")
        )


class DeliveryDetailView(EngiumAPIView):
    @extend_schema(
        operation_id="webhooks_deliveries_retrieve",
        summary="A delivery",
        description="The delivery of one event to this endpoint, with every attempt.",
        parameters=[ENDPOINT_ID, DELIVERY_ID],
        responses={200: WebhookDeliverySerializer, **error_responses(*AUTH_ERRORS, 404)},
    )
    def get(self, request: Request, endpoint_id: str, delivery_id: str) -> Response:
        return Response(render_delivery(selectors.get_delivery(endpoint_id, delivery_id)))


class DeliveryReplayView(EngiumAPIView):
    @extend_schema(
        operation_id="webhooks_deliveries_replay",
        summary="Replay a delivery",
        description=(
            "Send this delivery again now, whatever its outcome so far, with the same "
            "`webhook-id`; the retry schedule starts over."
        ),
        request=None,
        parameters=[ENDPOINT_ID, DELIVERY_ID],
        responses={
            202: OpenApiResponse(WebhookDeliverySerializer, description="The delivery, queued."),
            **error_responses(*AUTH_ERRORS, 404),
        },
    )
    def post(self, request: Request, endpoint_id: str, delivery_id: str) -> Response:
        services.replay_delivery(endpoint_id, delivery_id)
        return Response(
            render_delivery(selectors.get_delivery(endpoint_id, delivery_id)),
            status=status.HTTP_202_ACCEPTED,
        )


class EndpointReplayView(EngiumAPIView):
    @extend_schema(
        operation_id="webhooks_replay",
        summary="Replay failed deliveries",
        description=(
            "Send again every failed delivery to this endpoint of events created in "
            "[`since`, `until`)."
        ),
        request=ReplaySerializer,
        parameters=[ENDPOINT_ID],
        responses={
            202: OpenApiResponse(WebhookReplayedSerializer, description="How many were queued."),
            **error_responses(*BODY_ERRORS, 404),
        },
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        data = self.parse_body(ReplaySerializer)
        replayed = services.replay_failed_deliveries(
            endpoint_id, since=data["since"], until=data["until"]
        )
        return Response({"replayed": replayed}, status=status.HTTP_202_ACCEPTED)
