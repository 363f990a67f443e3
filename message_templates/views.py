"""Templates API: list, create, read, change, delete. Views parse and render; services decide."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from engium.api.openapi import AUTH_ERRORS, BODY_ERRORS, MALFORMED_BODY, error_responses
from engium.api.pagination import paginate
from engium.api.views import EngiumAPIView
from message_templates import selectors, services
from message_templates.openapi import TEMPLATE_ID, TemplatePageSerializer, TemplateSerializer
from message_templates.serializers import (
    TemplateCreateSerializer,
    TemplateListQuery,
    TemplateUpdateSerializer,
    render_template,
)

_BODY_400 = (
    "A field is not valid (`validation_error`): e.g. a name in use, a body with a malformed "
    "variable, or bodies whose variables differ between languages (`field` names the body, "
    f"`bodies.<language>`); or {MALFORMED_BODY}."
)
_REVIEW = (
    " Where the WhatsApp channel's default integration is WhatsApp Cloud with a "
    "`business_account_id`, new and changed bodies are `pending` and submitted to WhatsApp's "
    "review; elsewhere they are `approved` at once."
)


class TemplateListView(EngiumAPIView):
    @extend_schema(
        operation_id="templates_list",
        summary="List templates",
        description="The tenant's templates (not deleted ones), newest first; cursor-paginated.",
        parameters=[TemplateListQuery],
        responses={200: TemplatePageSerializer, **error_responses(400, *AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        query = self.parse_query(TemplateListQuery)
        rows = selectors.filter_templates(query)
        return Response(paginate(rows, query, lambda page: [render_template(t) for t in page]))

    @extend_schema(
        operation_id="templates_create",
        summary="Create a template",
        description="A template with a body per language and named variables." + _REVIEW,
        request=TemplateCreateSerializer,
        responses={
            201: OpenApiResponse(TemplateSerializer, description="The template."),
            **error_responses(*BODY_ERRORS, e400=_BODY_400),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.parse_body(TemplateCreateSerializer)
        template = services.create_template(**data)
        return Response(
            render_template(selectors.get_template(template.pk)), status=status.HTTP_201_CREATED
        )


class TemplateDetailView(EngiumAPIView):
    @extend_schema(
        operation_id="templates_retrieve",
        summary="A template",
        description="A template with its bodies and each language's review status.",
        parameters=[TEMPLATE_ID],
        responses={200: TemplateSerializer, **error_responses(*AUTH_ERRORS, 404)},
    )
    def get(self, request: Request, template_id: str) -> Response:
        return Response(render_template(selectors.get_template(template_id)))

    @extend_schema(
        operation_id="templates_update",
        summary="Change a template",
        description=(
            "Change the given fields; the name cannot change. `bodies` sets the given "
            "languages and removes those given as null; the variables are checked again." + _REVIEW
        ),
        request=TemplateUpdateSerializer,
        parameters=[TEMPLATE_ID],
        responses={
            200: OpenApiResponse(TemplateSerializer, description="The changed template."),
            **error_responses(*BODY_ERRORS, 404, e400=_BODY_400),
        },
    )
    def patch(self, request: Request, template_id: str) -> Response:
        data = self.parse_body(TemplateUpdateSerializer)
        services.update_template(template_id, **data)
        return Response(render_template(selectors.get_template(template_id)))

    @extend_schema(
        operation_id="templates_destroy",
        summary="Delete a template",
        description=(
            "Sends with it answer `template_not_found` from now on; messages sent with it keep "
            "their reference. Its name is free again."
        ),
        parameters=[TEMPLATE_ID],
        responses={
            204: OpenApiResponse(description="Deleted."),
            **error_responses(*AUTH_ERRORS, 404),
        },
    )
    def delete(self, request: Request, template_id: str) -> Response:
        services.delete_template(template_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
