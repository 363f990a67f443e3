"""OpenAPI documentation of the templates API: the answers of `serializers.render_template`.

Documentation only; every field mirrors a key the renderer writes (checked by
`tests/engium/test_openapi.py`).
"""

from __future__ import annotations

from rest_framework import serializers

from engium.api.openapi import id_path_parameter, page_serializer
from message_templates.models import TemplateCategory, TemplateStatus


class TemplateLanguageSerializer(serializers.Serializer):
    """Where a body's review stands."""

    status = serializers.ChoiceField(
        choices=TemplateStatus.values,
        help_text=(
            "`approved` (sendable; at once where no WhatsApp Cloud business account reviews "
            "templates), `pending` (under WhatsApp's review), `rejected`, or `disabled` (by Meta)."
        ),
    )
    rejection_reason = serializers.CharField(
        allow_null=True, help_text="Meta's reason for a rejection (or a pause); else null."
    )
    status_changed_at = serializers.DateTimeField()


class TemplateSerializer(serializers.Serializer):
    """A message template with its bodies and their review status."""

    id = serializers.CharField(help_text="`tpl_…`")
    name = serializers.CharField()
    category = serializers.ChoiceField(choices=TemplateCategory.values)
    bodies = serializers.DictField(
        child=serializers.CharField(), help_text="The text per language code."
    )
    variables = serializers.ListField(
        child=serializers.CharField(),
        help_text="The variable names, in the order they appear in the English (or first) body.",
    )
    examples = serializers.DictField(child=serializers.CharField())
    languages = serializers.DictField(
        child=TemplateLanguageSerializer(), help_text="The review status per language code."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


TemplatePageSerializer = page_serializer("TemplatePage", TemplateSerializer)
TEMPLATE_ID = id_path_parameter("template_id", "tpl", "template")
