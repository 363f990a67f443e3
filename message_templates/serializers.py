"""API shapes for templates: request parsers and the answer renderer."""

from __future__ import annotations

import re
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from engium.api.pagination import ListQuerySerializer
from engium.api.serializers import BoundedDictField, StrictCharField, StrictSerializer
from engium.patterns import TEXT
from engium.timestamps import iso_time
from message_templates.models import Template, TemplateCategory, TemplateStatus
from message_templates.rendering import MAX_BODY_LENGTH, MAX_VARIABLES
from tenants.models import Language

#: WhatsApp's rule for template names, kept on every channel so any template can go there
#: (`\Z`, written `$` in the schema: `$` also matches before a final line break)
NAME_PATTERN = r"^[a-z0-9_]{1,512}\Z"
_NAME_HELP = "Lowercase letters, digits and `_` (WhatsApp's rule), unique among live templates."
_NAME_MESSAGE = "Use lowercase letters, digits and _ only."
_BODIES_HELP = (
    "The text per language (`en`, `es`, `pt_BR`, `fr`, `de`, `it`, `ar`, `hi`, `id`), at most "
    f"{MAX_BODY_LENGTH} characters, with named variables such as `{{{{first_name}}}}`; every "
    "language uses the same variables."
)


_NO_TEXT = "A body cannot be empty or white space only; U+0000 is not allowed."


def _bodies_schema(*, nullable: bool, at_least_one: bool) -> dict[str, Any]:
    """The languages as properties, none other; a body's text as `_BodiesField` checks it."""
    body: dict[str, Any] = {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_BODY_LENGTH,
        "pattern": TEXT.replace(r"\x", r"\u00").replace(r"\Z", "$"),
    }
    if nullable:
        body["nullable"] = True
        body["description"] = "`null` removes the language's body."
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {language: body for language in Language.values},
        "additionalProperties": False,
        "description": _BODIES_HELP,
    }
    if at_least_one:
        schema["minProperties"] = 1
    return schema


@extend_schema_field(_bodies_schema(nullable=False, at_least_one=True))
class _BodiesField(BoundedDictField):
    def __init__(self, *, allow_null_bodies: bool = False, **kwargs: Any) -> None:
        super().__init__(
            max_items=len(Language.values),
            child=StrictCharField(
                max_length=MAX_BODY_LENGTH,
                trim_whitespace=False,
                allow_null=allow_null_bodies,
                validators=[RegexValidator(TEXT, message=_NO_TEXT)],
            ),
            help_text=_BODIES_HELP,
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key not in Language.values:
                    raise serializers.ValidationError(
                        {key: [f"Not a supported language; one of {', '.join(Language.values)}."]}
                    )
        return super().to_internal_value(data)


@extend_schema_field(_bodies_schema(nullable=True, at_least_one=False))
class _BodiesUpdateField(_BodiesField):
    """A change of bodies: ``null`` removes a language's body; ``{}`` changes none."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null_bodies=True, **kwargs)


def _examples_field() -> BoundedDictField:
    return BoundedDictField(
        max_items=MAX_VARIABLES,
        child=StrictCharField(
            max_length=200,
            validators=[
                RegexValidator(
                    TEXT, message="Text besides white space is required; U+0000 is not allowed."
                )
            ],
        ),
        required=False,
        help_text="A sample value per variable, shown to WhatsApp's reviewers (default: its name).",
    )


class TemplateCreateSerializer(StrictSerializer):
    # A JSON string only (a RegexField would take 0 as "0"), taken exactly (no trimming).
    name = StrictCharField(
        max_length=512,
        trim_whitespace=False,
        validators=[RegexValidator(NAME_PATTERN, message=_NAME_MESSAGE)],
        help_text=_NAME_HELP,
    )
    category = serializers.ChoiceField(choices=TemplateCategory.values)
    bodies = _BodiesField()
    examples = _examples_field()

    def validate_name(self, value: Any) -> str:
        if not isinstance(value, str) or not re.match(NAME_PATTERN, value):
            raise serializers.ValidationError(_NAME_MESSAGE)
        return value


class TemplateUpdateSerializer(StrictSerializer):
    category = serializers.ChoiceField(choices=TemplateCategory.values, required=False)
    bodies = _BodiesUpdateField(required=False)
    examples = _examples_field()

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and "name" in data:
            raise serializers.ValidationError(
                {"name": ["A template's name cannot change (WhatsApp knows it by its name)."]}
            )
        return super().to_internal_value(data)


class TemplateListQuery(ListQuerySerializer):
    id_prefix = "tpl"
    name = serializers.CharField(required=False, max_length=512)
    category = serializers.ChoiceField(choices=TemplateCategory.values, required=False)
    language = serializers.ChoiceField(
        choices=Language.values, required=False, help_text="Templates with a body in it."
    )
    status = serializers.ChoiceField(
        choices=TemplateStatus.values,
        required=False,
        help_text="Templates with a body in this status (in `language`, if given).",
    )


def render_template(template: Template) -> dict[str, Any]:
    bodies = list(template.bodies.all())
    first = next((b for b in bodies if b.language == Language.EN), bodies[0] if bodies else None)
    return {
        "id": template.id,
        "name": template.name,
        "category": template.category,
        "bodies": {body.language: body.text for body in bodies},
        "variables": list(first.variables) if first else [],
        "examples": dict(template.examples),
        "languages": {
            body.language: {
                "status": body.status,
                "rejection_reason": body.rejection_reason or None,
                "status_changed_at": iso_time(body.status_changed_at),
            }
            for body in bodies
        },
        "created_at": iso_time(template.created_at),
        "updated_at": iso_time(template.updated_at),
    }
