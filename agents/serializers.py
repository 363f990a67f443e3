"""API shapes for agent roles: strict request parsers and the answer renderer."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

from agents.models import AgentRole
from agents.text import words
from engium.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, RefusesEmptyParameters
from engium.api.serializers import StrictBooleanField, StrictCharField, StrictSerializer
from engium.patterns import HAS_LETTER_OR_DIGIT, NO_NUL, TEXT
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


def _text(**kwargs: Any) -> StrictCharField:
    """Text with something besides white space and no NUL, as its schema's pattern says."""
    return StrictCharField(validators=[RegexValidator(TEXT, message=_NO_TEXT)], **kwargs)


def _blank_or_text(**kwargs: Any) -> StrictCharField:
    """Text that may be empty, without NUL, as its schema's pattern says."""
    return StrictCharField(
        allow_blank=True, validators=[RegexValidator(NO_NUL, message=_NUL)], **kwargs
    )


_NO_TEXT = "Text besides white space is required; U+0000 is not allowed."
_NUL = "U+0000 is not allowed."


class KnowledgeEntrySerializer(StrictSerializer):
    question = _text(max_length=MAX_QUESTION)
    answer = _text(max_length=MAX_MESSAGE_TEXT)


def _keywords_field(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(
        child=StrictCharField(
            max_length=MAX_KEYWORD,
            validators=[
                RegexValidator(
                    HAS_LETTER_OR_DIGIT,
                    message="A keyword needs a letter or a digit to match; U+0000 is not allowed.",
                )
            ],
        ),
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
            # Every keyword has a letter or digit (its pattern); the few that hold words
            # only in forms `words` folds away (a lone "\u037a") never match, as documented.
            key = tuple(words(keyword)) or (keyword,)
            if key not in seen:  # "Human" and "human" are one keyword
                seen.add(key)
                kept.append(keyword)
        return kept

    def validate_knowledge(self, value: list[dict[str, str]]) -> list[dict[str, str]]:
        return [{"question": e["question"], "answer": e["answer"]} for e in value]


class AgentRoleCreateSerializer(_AgentRoleFields):
    name = _text(max_length=MAX_NAME)
    instructions = _text(max_length=MAX_INSTRUCTIONS)
    language = serializers.ChoiceField(
        choices=Language.values,
        required=False,
        help_text="The language the agent answers in; the tenant's default language if omitted.",
    )
    greeting = _blank_or_text(max_length=MAX_MESSAGE_TEXT, required=False, default="")
    handoff_keywords = _keywords_field(required=False, default=list)
    knowledge = _knowledge_field(required=False, default=list)
    is_default = StrictBooleanField(
        required=False,
        default=False,
        help_text="Make this the tenant's default role (the one it had loses the flag).",
    )


class AgentRoleUpdateSerializer(_AgentRoleFields):
    name = _text(max_length=MAX_NAME, required=False)
    instructions = _text(max_length=MAX_INSTRUCTIONS, required=False)
    language = serializers.ChoiceField(choices=Language.values, required=False)
    greeting = _blank_or_text(max_length=MAX_MESSAGE_TEXT, required=False)
    handoff_keywords = _keywords_field(required=False)
    knowledge = _knowledge_field(required=False)
    is_default = StrictBooleanField(required=False)


class AgentRoleListQuery(RefusesEmptyParameters, serializers.Serializer):
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
