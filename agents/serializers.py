"""API shapes for agent roles: strict request parsers and the answer renderer."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from agents.models import AgentRole
from agents.text import words
from engium.api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from engium.api.serializers import StrictCharField, StrictSerializer
from engium.timestamps import iso_time
from tenants.models import Language

MAX_NAME = 200
MAX_INSTRUCTIONS = 8000
#: Greetings and answers are sent as messages: at most a message's length.
MAX_MESSAGE_TEXT = 4096
MAX_KEYWORDS = 50
MAX_KEYWORD = 100
MAX_KNOWLEDGE = 200
MAX_QUESTION = 500


class KnowledgeEntrySerializer(StrictSerializer):
    question = StrictCharField(max_length=MAX_QUESTION)
    answer = StrictCharField(max_length=MAX_MESSAGE_TEXT)


def _keywords_field(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(max_length=MAX_KEYWORD),
        max_length=MAX_KEYWORDS,
        help_text=(
            "Words or phrases that hand the conversation to a person when an inbound message "
            'contains them as whole words, in any case and with or without accents (`"human"`, '
            '`"hablar con una persona"`).'
        ),
        **kwargs,
    )


def _knowledge_field(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=KnowledgeEntrySerializer(),
        max_length=MAX_KNOWLEDGE,
        help_text="Questions customers ask and the answers the agent gives.",
        **kwargs,
    )


class _AgentRoleFields(StrictSerializer):
    def validate_handoff_keywords(self, value: list[str]) -> list[str]:
        kept: list[str] = []
        seen: set[tuple[str, ...]] = set()
        for keyword in value:
            key = tuple(words(keyword))
            if not key:
                raise serializers.ValidationError(f"{keyword!r} has no letters or digits to match.")
            if key not in seen:  # "Human" and "human" are one keyword
                seen.add(key)
                kept.append(keyword)
        return kept

    def validate_knowledge(self, value: list[dict[str, str]]) -> list[dict[str, str]]:
        return [{"question": e["question"], "answer": e["answer"]} for e in value]


class AgentRoleCreateSerializer(_AgentRoleFields):
    name = StrictCharField(max_length=MAX_NAME)
    instructions = StrictCharField(max_length=MAX_INSTRUCTIONS)
    language = serializers.ChoiceField(
        choices=Language.values,
        required=False,
        help_text="The language the agent answers in; the tenant's default language if omitted.",
    )
    greeting = StrictCharField(
        max_length=MAX_MESSAGE_TEXT, required=False, allow_blank=True, default=""
    )
    handoff_keywords = _keywords_field(required=False, default=list)
    knowledge = _knowledge_field(required=False, default=list)
    is_default = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Make this the tenant's default role (the one it had loses the flag).",
    )


class AgentRoleUpdateSerializer(_AgentRoleFields):
    name = StrictCharField(max_length=MAX_NAME, required=False)
    instructions = StrictCharField(max_length=MAX_INSTRUCTIONS, required=False)
    language = serializers.ChoiceField(choices=Language.values, required=False)
    greeting = StrictCharField(max_length=MAX_MESSAGE_TEXT, required=False, allow_blank=True)
    handoff_keywords = _keywords_field(required=False)
    knowledge = _knowledge_field(required=False)
    is_default = serializers.BooleanField(required=False)


class AgentRoleListQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
    cursor = serializers.UUIDField(
        required=False, help_text="The `next_cursor` of the previous page."
    )
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    language = serializers.ChoiceField(choices=Language.values, required=False)
    is_default = serializers.ChoiceField(
        choices=["true", "false"], required=False, help_text="Only the default role, or the others."
    )


def render_agent_role(role: AgentRole) -> dict[str, Any]:
    return {
        "id": str(role.id),
        "name": role.name,
        "instructions": role.instructions,
        "language": role.language,
        "greeting": role.greeting,
        "handoff_keywords": list(role.handoff_keywords or []),
        "knowledge": [
            {"question": entry["question"], "answer": entry["answer"]}
            for entry in role.knowledge or []
        ],
        "is_default": role.is_default,
        "created_at": iso_time(role.created_at),
        "updated_at": iso_time(role.updated_at),
    }
