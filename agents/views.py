"""Agent roles API (`/api/v1/agent-roles`): list, create, read, change, delete."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from agents import services
from agents.models import AgentRole
from agents.openapi import ROLE_ID, AgentRolePageSerializer, AgentRoleSerializer
from agents.serializers import (
    AgentRoleCreateSerializer,
    AgentRoleListQuery,
    AgentRoleUpdateSerializer,
    render_agent_role,
)
from engium.api.openapi import AUTH_ERRORS, BODY_ERRORS, MALFORMED_BODY, error_responses
from engium.api.pagination import paginate
from engium.api.views import EngiumAPIView

_BODY_400 = (
    "A field is not valid (`validation_error`): a blank name or instructions, a keyword "
    "without letters or digits, a knowledge entry without its question or answer, a list "
    f"or text over its size; or {MALFORMED_BODY}."
)


class AgentRoleListView(EngiumAPIView):
    @extend_schema(
        operation_id="agent_roles_list",
        summary="List agent roles",
        description="The tenant's agent roles, newest first; cursor-paginated.",
        parameters=[AgentRoleListQuery],
        responses={200: AgentRolePageSerializer, **error_responses(400, *AUTH_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        query = self.parse_query(AgentRoleListQuery)
        rows = AgentRole.objects.all()
        if query.get("language"):
            rows = rows.filter(language=query["language"])
        if query.get("is_default"):
            rows = rows.filter(is_default=query["is_default"] == "true")
        page = paginate(rows, query, lambda roles: [render_agent_role(r) for r in roles])
        if page["next_cursor"] is not None:
            page["next_cursor"] = str(page["next_cursor"])
        return Response(page)

    @extend_schema(
        operation_id="agent_roles_create",
        summary="Create an agent role",
        description=(
            "A persona that answers inbound messages of the conversations it is given (by "
            "`agent_role_id` on a send) or, as the tenant's default, of every conversation "
            "without one. `is_default: true` takes the flag from the previous default."
        ),
        request=AgentRoleCreateSerializer,
        responses={
            201: OpenApiResponse(AgentRoleSerializer, description="The agent role."),
            **error_responses(*BODY_ERRORS, e400=_BODY_400),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.parse_body(AgentRoleCreateSerializer)
        data.setdefault("language", request.tenant.default_language)  # type: ignore[attr-defined]
        role = services.create_agent_role(**data)
        return Response(render_agent_role(role), status=status.HTTP_201_CREATED)


class AgentRoleDetailView(EngiumAPIView):
    @extend_schema(
        operation_id="agent_roles_retrieve",
        summary="An agent role",
        description="An agent role with its hand-off keywords and knowledge entries.",
        parameters=[ROLE_ID],
        responses={200: AgentRoleSerializer, **error_responses(*AUTH_ERRORS, 404)},
    )
    def get(self, request: Request, role_id: UUID) -> Response:
        return Response(render_agent_role(services.get_agent_role(role_id)))

    @extend_schema(
        operation_id="agent_roles_update",
        summary="Change an agent role",
        description=(
            "Change the given fields only; `handoff_keywords` and `knowledge` are replaced as "
            "a whole. `is_default: true` takes the flag from the previous default; "
            "`is_default: false` on the default leaves the tenant without one."
        ),
        request=AgentRoleUpdateSerializer,
        parameters=[ROLE_ID],
        responses={
            200: OpenApiResponse(AgentRoleSerializer, description="The changed agent role."),
            **error_responses(*BODY_ERRORS, 404, e400=_BODY_400),
        },
    )
    def patch(self, request: Request, role_id: UUID) -> Response:
        data = self.parse_body(AgentRoleUpdateSerializer)
        return Response(render_agent_role(services.update_agent_role(role_id, **data)))

    @extend_schema(
        operation_id="agent_roles_destroy",
        summary="Delete an agent role",
        description=(
            "Delete an agent role. Conversations it answered are not deleted: their "
            "`agent_role_id` becomes null and the tenant's default role, if any, answers them "
            "from then on."
        ),
        parameters=[ROLE_ID],
        responses={
            204: OpenApiResponse(description="Deleted."),
            **error_responses(*AUTH_ERRORS, 404),
        },
    )
    def delete(self, request: Request, role_id: UUID) -> Response:
        services.delete_agent_role(role_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
