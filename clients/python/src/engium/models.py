"""The API's objects as typed dataclasses, field for field as the OpenAPI schema names them.

``tests/e2e/sdk/test_live.py`` (in the Engium repository) loads the live
``/api/v1/schema/`` and checks every model here against its schema: the same fields, no more,
no fewer. Times are parsed into timezone-aware ``datetime``; a field the server adds in a later
version is ignored rather than breaking an older SDK.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, Union

__all__ = [
    "AgentRole",
    "ApiKey",
    "Conversation",
    "ConversationDetail",
    "Integration",
    "KnowledgeEntry",
    "Media",
    "Message",
    "MessageStatusChange",
    "MessageTemplate",
    "Model",
    "NewApiKey",
    "SendResult",
    "Template",
    "TemplateLanguage",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEndpointCreated",
    "WebhookEvent",
    "WebhookReplayed",
    "WebhookSecret",
]

M = TypeVar("M", bound="Model")


class Model:
    """The base of every model: ``from_dict`` builds one from the API's JSON."""

    #: The schema component a model mirrors (checked by the repository's schema test).
    schema_name: typing.ClassVar[str] = ""

    @classmethod
    def from_dict(cls: type[M], data: dict[str, Any]) -> M:
        hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
        values = {}
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            if field.name in data:
                values[field.name] = _convert(hints[field.name], data[field.name])
            elif field.default is dataclasses.MISSING:
                values[field.name] = None
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]


def _convert(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _convert(options[0], value) if len(options) == 1 else value
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_convert(item, entry) for entry in value]
    if origin is dict:
        _, item = typing.get_args(hint)
        return {key: _convert(item, entry) for key, entry in value.items()}
    if isinstance(hint, type) and issubclass(hint, Model):
        return hint.from_dict(value)
    if hint is datetime and isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value


@dataclass(frozen=True)
class MessageStatusChange(Model):
    """One step of a message's ``status_history``."""

    schema_name = "MessageStatusChange"
    status: str
    at: datetime
    error_code: str | None = None


@dataclass(frozen=True)
class MessageTemplate(Model):
    """The template a message was sent from."""

    schema_name = "MessageTemplate"
    id: str
    language: str


@dataclass(frozen=True)
class Message(Model):
    schema_name = "Message"
    id: str
    conversation_id: str
    direction: str
    channel: str
    recipient: str
    status: str
    text: str
    media_url: str | None
    media_type: str | None
    template: MessageTemplate | None
    details: dict[str, Any] | None
    error_code: str | None
    error_message: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    #: Absent in webhook events' ``data`` (an empty list then).
    status_history: list[MessageStatusChange] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class Conversation(Model):
    schema_name = "Conversation"
    id: str
    status: str
    channel: str
    recipient: str
    agent_role_id: str | None
    integration_id: str | None
    created_at: datetime
    last_activity_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class ConversationDetail(Conversation):
    """A conversation with its latest 100 messages."""

    schema_name = "ConversationDetail"
    messages: list[Message] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class SendResult(Conversation):
    """The answer to a send: the conversation, and the queued ``message``."""

    schema_name = "SendResult"
    message: Message | None = None
    #: True when the answer was a replay of an earlier send with the same Idempotency-Key.
    replayed: bool = dataclasses.field(default=False, metadata={"sdk": True})


@dataclass(frozen=True)
class Integration(Model):
    schema_name = "Integration"
    id: str
    channel: str
    provider: str
    name: str
    status: str
    is_default: bool
    config: dict[str, Any]
    secrets_set: list[str]
    verification: str
    verification_detail: str | None
    verified_at: datetime | None
    callback_urls: dict[str, str]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ApiKey(Model):
    schema_name = "ApiKey"
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewApiKey(ApiKey):
    """A key just created: ``key`` is shown this once."""

    schema_name = "NewApiKey"
    key: str = ""


@dataclass(frozen=True)
class TemplateLanguage(Model):
    schema_name = "TemplateLanguage"
    status: str
    rejection_reason: str | None
    status_changed_at: datetime


@dataclass(frozen=True)
class Template(Model):
    schema_name = "Template"
    id: str
    name: str
    category: str
    bodies: dict[str, str]
    variables: list[str]
    examples: dict[str, str]
    languages: dict[str, TemplateLanguage]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class KnowledgeEntry(Model):
    schema_name = "AgentRoleKnowledge"
    question: str
    answer: str


@dataclass(frozen=True)
class AgentRole(Model):
    schema_name = "AgentRole"
    id: str
    name: str
    instructions: str
    language: str
    greeting: str
    handoff_keywords: list[str]
    knowledge: list[KnowledgeEntry]
    is_default: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Media(Model):
    schema_name = "Media"
    id: str
    media_url: str
    expires_at: datetime
    media_type: str
    content_type: str
    size: int
    sha256: str
    original_name: str
    origin: str
    created_at: datetime


@dataclass(frozen=True)
class WebhookEndpoint(Model):
    schema_name = "WebhookEndpoint"
    id: str
    url: str
    events: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class WebhookEndpointCreated(WebhookEndpoint):
    """An endpoint just created, with its signing ``secret``."""

    schema_name = "WebhookEndpointCreated"
    secret: str = ""


@dataclass(frozen=True)
class WebhookSecret(Model):
    schema_name = "WebhookSecret"
    secret: str
    previous_secret_valid_until: datetime | None


@dataclass(frozen=True)
class WebhookAttempt(Model):
    schema_name = "WebhookAttempt"
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    response: str
    error: str | None
    succeeded: bool


@dataclass(frozen=True)
class WebhookDelivery(Model):
    schema_name = "WebhookDelivery"
    id: str
    endpoint_id: str
    event_type: str
    status: str
    attempt_count: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    attempts: list[WebhookAttempt]


@dataclass(frozen=True)
class WebhookReplayed(Model):
    schema_name = "WebhookReplayed"
    replayed: int


@dataclass(frozen=True)
class WebhookEvent(Model):
    """A verified webhook delivery (``engium.webhooks.verify``).

    ``data`` is the raw object; ``message`` / ``conversation`` are it typed, for message and
    conversation events respectively (None otherwise).
    """

    id: str
    type: str
    timestamp: datetime
    data: dict[str, Any]

    @property
    def message(self) -> Message | None:
        if self.type.startswith("conversation.message."):
            return Message.from_dict(self.data)
        return None

    @property
    def conversation(self) -> Conversation | None:
        if self.type in ("conversation.created", "conversation.closed", "conversation.handoff"):
            return Conversation.from_dict(self.data)
        return None
