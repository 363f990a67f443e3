"""API shapes for conversations and messages: request parsers and answer renderers."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.core.validators import RegexValidator
from rest_framework import serializers

from conversations.models import Conversation, ConversationStatus, Message, MessageDirection
from conversations.models import MessageStatus as Status
from conversations.payloads import conversation_payload, message_payload
from engium.api.pagination import ListQuerySerializer
from engium.api.serializers import (
    BoundedDictField,
    PassThroughField,
    StrictCharField,
    StrictSerializer,
    StrictUUIDField,
)
from engium.ids import id_regex
from engium.patterns import MEDIA_URL, PHONE_SHAPE
from engium.timestamps import iso_time
from integrations.models import Channel
from media.signing import is_media_url
from tenants.models import Language

MAX_TEXT_LENGTH = 4096
MEDIA_TYPES = ("image", "audio", "video", "document")
MAX_TEMPLATE_VARIABLES = 50


class TemplateReferenceSerializer(StrictSerializer):
    id = StrictCharField(max_length=64)
    language = serializers.ChoiceField(choices=Language.values, required=False)
    variables = BoundedDictField(
        max_items=MAX_TEMPLATE_VARIABLES,
        child=StrictCharField(max_length=1024, allow_blank=True),
        required=False,
    )


class HttpsOrOwnMediaURL(RegexValidator):
    """`MEDIA_URL` (the schema's pattern, https), or a media URL of Engium's own, which is
    on ``ENGIUM_PUBLIC_URL`` (plain http in development) and checked by the send."""

    def __call__(self, value: Any) -> None:
        if isinstance(value, str) and is_media_url(value):
            return
        super().__call__(value)


class MessageContentSerializer(StrictSerializer):
    """One of three variants, documented as such (`conversations.openapi.MessageContentScheme`)."""

    # Stored as sent: leading and trailing white space are part of the message.
    text = StrictCharField(
        max_length=MAX_TEXT_LENGTH, required=False, allow_blank=True, trim_whitespace=False
    )
    media_url = StrictCharField(
        max_length=2048,
        required=False,
        trim_whitespace=False,
        validators=[HttpsOrOwnMediaURL(MEDIA_URL, message="media_url must be an https URL.")],
    )
    media_type = serializers.ChoiceField(choices=MEDIA_TYPES, required=False)
    template = TemplateReferenceSerializer(required=False)

    def validate_media_url(self, value: str) -> str:
        if is_media_url(value):  # uploaded to Engium: checked by the send (media.services)
            return value
        try:
            parts = urlsplit(value)
        except ValueError as exc:
            raise serializers.ValidationError("media_url is not a valid URL.") from exc
        if parts.scheme != "https" or not parts.netloc:
            raise serializers.ValidationError("media_url must be an https URL.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        has_media = "media_url" in attrs or "media_type" in attrs
        if "template" in attrs:
            if set(attrs) != {"template"}:
                raise serializers.ValidationError(
                    "A template message takes no text or media of its own."
                )
            return attrs
        if has_media:
            for key in ("media_url", "media_type"):
                if key not in attrs:
                    raise serializers.ValidationError({key: ["Required with media."]})
            return attrs
        if not attrs.get("text", "").strip():
            raise serializers.ValidationError(
                {"text": ["Give text, media (media_url and media_type) or a template."]}
            )
        return attrs


_PLAIN_TEXT_KEYS = {"recipient": None, "channel": None, "message": None}.keys()
_TEXT_ONLY = {"text": None}.keys()
_CHANNELS = frozenset(Channel.values)
_SURROGATE = re.compile("[\ud800-\udfff]")


class SendMessageSerializer(StrictSerializer):
    recipient = PassThroughField()  # shape checked by `normalize_recipient`
    channel = serializers.ChoiceField(choices=Channel.values)
    message = MessageContentSerializer()
    agent_role_id = StrictUUIDField(required=False, allow_null=True)

    @staticmethod
    def plain_text(data: Any) -> dict[str, Any] | None:
        """What validating ``data`` gives, for the commonest send (text only, no agent role),
        when this serializer could not refuse it; None for anything else, which the
        serializer validates. A send's validation in a tenth of the time; a test holds
        the two to the same answers (tests/conversations/test_send_validation.py).
        """
        if type(data) is not dict or data.keys() != _PLAIN_TEXT_KEYS:
            return None
        recipient, channel, message = data["recipient"], data["channel"], data["message"]
        if (
            type(recipient) is not str
            or type(channel) is not str
            or channel not in _CHANNELS
            or type(message) is not dict
            or message.keys() != _TEXT_ONLY
        ):
            return None
        text = message["text"]
        if type(text) is not str or len(text) > MAX_TEXT_LENGTH or not text.strip():
            return None
        # DRF's CharField refuses NUL and surrogate characters (its validators).
        if "\x00" in text or (not text.isascii() and _SURROGATE.search(text)):
            return None
        return {"recipient": recipient, "channel": channel, "message": {"text": text}}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        content = attrs["message"]
        if attrs["channel"] == Channel.VOICE and "media_url" in content:
            raise serializers.ValidationError(
                {"message": {"media_url": ["Voice takes text or a template only."]}}
            )
        return attrs


class SandboxInboundSerializer(StrictSerializer):
    # Named `from` in the API; Python reserves the word.
    text = StrictCharField(max_length=MAX_TEXT_LENGTH, trim_whitespace=False)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = PassThroughField()
        return fields


# ------------------------------------------------------------------ answers


def render_message(message: Message, *, with_history: bool = True) -> dict[str, Any]:
    body = message_payload(message)
    if with_history:
        body["status_history"] = [
            {
                "status": change.status,
                "at": iso_time(change.occurred_at),
                **({"error_code": change.error_code} if change.error_code else {}),
            }
            for change in message.status_history.all()
        ]
    return body


def render_conversation(
    conversation: Conversation, *, messages: list[Message] | None = None
) -> dict[str, Any]:
    body = conversation_payload(conversation)
    if messages is not None:
        body["messages"] = [render_message(message) for message in messages]
    return body


def render_send_result(message: Message) -> dict[str, Any]:
    """The 201 answer of a send: the conversation, with the queued message."""
    body = render_conversation(message.conversation)
    body["message"] = render_message(message, with_history=False)
    body["message"]["status_history"] = [
        {"status": message.status, "at": iso_time(message.created_at)}
    ]
    return body


# ------------------------------------------------------------------ list filters


def _recipient_filter() -> serializers.RegexField:
    # A number of the right shape that is not a possible number matches nothing
    # (`conversations.selectors`); any other text is a `validation_error`.
    return serializers.RegexField(
        PHONE_SHAPE,
        required=False,
        max_length=40,
        trim_whitespace=False,  # the shape takes white space, and the length counts it
        help_text="A phone number, as `recipient` on a send takes it.",
    )


class ConversationListQuery(ListQuerySerializer):
    id_prefix = "sess"
    status = serializers.ChoiceField(choices=ConversationStatus.values, required=False)
    channel = serializers.ChoiceField(choices=Channel.values, required=False)
    recipient = _recipient_filter()


class MessageListQuery(ListQuerySerializer):
    id_prefix = "msg"
    status = serializers.ChoiceField(choices=Status.values, required=False)
    channel = serializers.ChoiceField(choices=Channel.values, required=False)
    direction = serializers.ChoiceField(choices=MessageDirection.values, required=False)
    recipient = _recipient_filter()
    conversation_id = serializers.RegexField(
        rf"^{id_regex('sess')}\Z", required=False, trim_whitespace=False, help_text="`sess_…`"
    )
