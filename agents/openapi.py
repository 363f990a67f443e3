"""OpenAPI documentation of the agent roles API: the answer of `render_agent_role`.

Documentation only; every field mirrors a key the renderer writes (checked by
`tests/engium/test_openapi.py`).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from engium.api.openapi import page_serializer
from tenants.models import Language


class AgentRoleKnowledgeSerializer(serializers.Serializer):
    """A question customers ask, and the agent's answer."""

    question = serializers.CharField()
    answer = serializers.CharField()


class AgentRoleSerializer(serializers.Serializer):
    """Who answers a conversation on the tenant's behalf."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    instructions = serializers.CharField(help_text="What the agent is for and how it behaves.")
    language = serializers.ChoiceField(choices=Language.values)
    greeting = serializers.CharField(
        allow_blank=True,
        help_text="Said to a conversation's first inbound message when no knowledge matches.",
    )
    handoff_keywords = serializers.ListField(child=serializers.CharField())
    knowledge = AgentRoleKnowledgeSerializer(many=True)
    is_default = serializers.BooleanField(
        help_text="The tenant's default role: it answers conversations that have none."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


AgentRolePageSerializer = page_serializer("AgentRolePage", AgentRoleSerializer)

ROLE_ID = OpenApiParameter(
    "role_id",
    OpenApiTypes.UUID,
    OpenApiParameter.PATH,
    required=True,
    description="The agent role's ID (a UUID).",
)
