"""OpenAPI documentation of the conversations API: the answers of the `render_*` functions.

Documentation only: the renderers in `conversations.serializers` stay the runtime path.
Every field here mirrors a key those renderers write (checked by
`tests/engium/test_openapi.py`), so change both together.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter
from rest_framework import serializers

from conversations.models import ConversationStatus, MessageDirection, MessageStatus
from conversations.serializers import MEDIA_TYPES
from engium.api.openapi import id_path_parameter, page_serializer
from engium.patterns import NOT_ONLY_WHITESPACE
from integrations.models import Channel
from tenants.models import Language

# ------------------------------------------------------------------ requests


class MessageContentScheme(OpenApiSerializerExtension):
    """A send's `message`: exactly one of three variants, as `MessageContentSerializer` checks.

    Its fields alone would say that `{}`, white space only, or text with a template are
    valid; the variants say what the API takes.
    """

    target_class = "conversations.serializers.MessageContentSerializer"
    priority = 1  # before `engium.api.openapi.StrictSerializerScheme`

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        fields = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        text, media_url, media_type, template = (
            fields["properties"][name] for name in ("text", "media_url", "media_type", "template")
        )

        def variant(title: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
            return {
                "type": "object",
                "title": title,
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            }

        return {
            "description": (
                "Exactly one variant: text, media (with an optional caption) or a template."
            ),
            "oneOf": [
                variant(
                    "Text",
                    {"text": {**text, "minLength": 1, "pattern": NOT_ONLY_WHITESPACE}},
                    ["text"],
                ),
                variant(
                    "Media",
                    {"media_url": media_url, "media_type": media_type, "text": text},
                    ["media_url", "media_type"],
                ),
                variant("Template", {"template": template}, ["template"]),
            ],
        }


# ------------------------------------------------------------------ answers


class MessageTemplateSerializer(serializers.Serializer):
    """The template a message was sent with; its `text` is the rendered body."""

    id = serializers.CharField(help_text="`tpl_…`")
    language = serializers.ChoiceField(
        choices=Language.values, help_text="The language it was rendered in."
    )


class MessageStatusChangeSerializer(serializers.Serializer):
    """One step of a message's status history, oldest first."""

    status = serializers.ChoiceField(choices=MessageStatus.values)
    at = serializers.DateTimeField()
    error_code = serializers.CharField(
        required=False, help_text="Why the message failed (on `failed` and `undelivered`)."
    )


class MessageSerializer(serializers.Serializer):
    """A message, outbound (sent through the API) or inbound (written by the recipient)."""

    id = serializers.CharField(help_text="`msg_…`")
    conversation_id = serializers.CharField(help_text="`sess_…`")
    direction = serializers.ChoiceField(choices=MessageDirection.values)
    channel = serializers.ChoiceField(choices=Channel.values)
    recipient = serializers.CharField(help_text="The customer's phone number, E.164.")
    status = serializers.ChoiceField(choices=MessageStatus.values)
    text = serializers.CharField(
        allow_blank=True, help_text="As sent (templates rendered); empty for media only."
    )
    # Not `format: uri`: the URL as sent (the send's `MEDIA_URL` pattern admits any
    # non-space characters after the host), an Engium media URL, or a provider's.
    media_url = serializers.CharField(
        allow_null=True,
        help_text=(
            "As sent (`message.media_url`), or where an inbound message's media can be "
            "fetched; null without media."
        ),
    )
    media_type = serializers.CharField(
        allow_null=True, help_text=f"One of {', '.join(MEDIA_TYPES)}."
    )
    template = MessageTemplateSerializer(allow_null=True)
    details = serializers.DictField(
        allow_null=True,
        help_text=(
            "Inbound only: what the message carries beyond text, as the provider described "
            "it, with a `type`: a media reference (`media`: the provider's media ID and MIME "
            "type), `location`, `contacts`, `interactive` (button or list reply), `button`, "
            "`reaction`. Null for plain text."
        ),
    )
    error_code = serializers.CharField(allow_null=True, help_text="Why the message failed.")
    error_message = serializers.CharField(allow_null=True)
    attempts = serializers.IntegerField(help_text="Delivery attempts so far.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    status_history = MessageStatusChangeSerializer(many=True)


class ConversationSerializer(serializers.Serializer):
    """The thread between one tenant channel and one recipient."""

    id = serializers.CharField(help_text="`sess_…`")
    status = serializers.ChoiceField(choices=ConversationStatus.values)
    channel = serializers.ChoiceField(choices=Channel.values)
    recipient = serializers.CharField(help_text="The customer's phone number, E.164.")
    agent_role_id = serializers.UUIDField(allow_null=True)
    integration_id = serializers.CharField(
        allow_null=True, help_text="`intg_…`; null once the integration is removed."
    )
    created_at = serializers.DateTimeField()
    last_activity_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)


class ConversationDetailSerializer(ConversationSerializer):
    """A conversation with its latest 100 messages, oldest first."""

    messages = MessageSerializer(many=True)


class SendResultSerializer(ConversationSerializer):
    """The answer of a send: the conversation, with the queued message."""

    message = MessageSerializer()


ConversationPageSerializer = page_serializer("ConversationPage", ConversationSerializer)
MessagePageSerializer = page_serializer("MessagePage", MessageSerializer)

CONVERSATION_ID = id_path_parameter("conversation_id", "sess", "conversation")
MESSAGE_ID = id_path_parameter("message_id", "msg", "message")

# ------------------------------------------------------------------ request examples

SEND_EXAMPLES = [
    OpenApiExample(
        "First message",
        summary="Text on WhatsApp",
        description="The example of the First Message guide.",
        value={
            "recipient": "+15550102999",
            "channel": "whatsapp",
            "message": {"text": "Hello from Engium! How can we help you today?"},
        },
        request_only=True,
    ),
    OpenApiExample(
        "Media",
        summary="An image with a caption",
        value={
            "recipient": "+15550102999",
            "channel": "whatsapp",
            "message": {
                "text": "Your order is on its way.",
                "media_url": "https://example.com/receipt.png",
                "media_type": "image",
            },
        },
        request_only=True,
    ),
    OpenApiExample(
        "SMS with an agent role",
        summary="SMS answered by a chosen agent role",
        value={
            "recipient": "+15550102999",
            "channel": "sms",
            "message": {"text": "Reply to this message to talk to our assistant."},
            "agent_role_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        },
        request_only=True,
    ),
]

# ------------------------------------------------------------------ rate limit headers

_LIMITED = [201, 400, 429]
RATE_LIMIT_HEADERS = [
    OpenApiParameter(
        "X-RateLimit-Limit",
        int,
        OpenApiParameter.HEADER,
        response=_LIMITED,
        description="Sends the tenant may make in any 60 s (its plan's, or its own limit).",
    ),
    OpenApiParameter(
        "X-RateLimit-Remaining",
        int,
        OpenApiParameter.HEADER,
        response=_LIMITED,
        description="Sends left in the current 60 s window (absent if the limiter is down).",
    ),
    OpenApiParameter(
        "X-RateLimit-Reset",
        int,
        OpenApiParameter.HEADER,
        response=_LIMITED,
        description="Seconds until the oldest send of the window leaves it (absent likewise).",
    ),
    OpenApiParameter(
        "Retry-After",
        int,
        OpenApiParameter.HEADER,
        response=[429],
        description="Whole seconds until a send will be accepted.",
    ),
]

IDEMPOTENCY_HEADERS = [
    OpenApiParameter(
        "Idempotency-Key",
        str,
        OpenApiParameter.HEADER,
        required=False,
        pattern=r"^[\x20-\x7e]{1,255}$",
        description=(
            "Makes the send safe to repeat: for 24 h the same key with the same body answers "
            "the first answer again and creates nothing; with another body, 409 "
            "`idempotency_conflict`. At most 255 printable ASCII characters."
        ),
    ),
    OpenApiParameter(
        "Idempotent-Replayed",
        str,
        OpenApiParameter.HEADER,
        response=[201],
        description="`true` when the answer is the stored answer of an earlier request.",
    ),
]
