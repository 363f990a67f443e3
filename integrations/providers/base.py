"""The provider contract: what every adapter (sandbox, Twilio, WhatsApp Cloud, …) implements.

An adapter is stateless; everything it needs comes in its arguments. It never touches
Engium's models: it turns an outbound message into a provider call, and a provider's
callback into `StatusReport`s and `InboundMessage`s that `conversations.services` applies.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, ClassVar


@dataclass(frozen=True)
class OutboundMessage:
    message_id: str
    channel: str
    recipient: str
    text: str
    media_url: str | None = None
    media_type: str | None = None
    #: the file's name, where known (uploaded media): WhatsApp shows it on documents
    media_filename: str | None = None
    #: for providers that send templates natively (`Provider.sends_templates`), the template
    #: as they take it: ``{"name", "language", "parameters": [values in body order]}``;
    #: ``text`` holds the rendered template either way
    template: Mapping[str, Any] | None = None
    #: the tenant's language (``en``, ``pt_BR``, …): voice adapters speak in it
    language: str = "en"
    #: where the provider should post this message's status reports (absolute), if anywhere
    status_callback_url: str | None = None


@dataclass(frozen=True)
class StatusReport:
    """A provider's word on a message: its new status, identified by either ID."""

    status: str
    provider_message_id: str | None = None
    message_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A message a recipient wrote to the tenant."""

    sender: str
    text: str
    provider_message_id: str | None = None
    media_url: str | None = None
    media_type: str | None = None
    #: what text alone does not carry, kept as the provider described it: a media reference
    #: (``{"type": "image", "media_id", "mime_type"}``), a location, contacts, a button or
    #: list reply, a reaction. None for plain text.
    details: Mapping[str, Any] | None = None
    #: the provider's handle of the message's (first) media, for `Provider.download_media`:
    #: Twilio's media URL, WhatsApp Cloud's media ID. None without media.
    media_reference: str | None = None
    #: the media's content type as the provider declared it
    media_content_type: str | None = None


@dataclass(frozen=True)
class SendResult:
    """What the provider said when it took the message.

    ``status`` is the status it confirmed at once (``sent`` when it accepted the message),
    or None when confirmation comes later by callback.
    """

    provider_message_id: str
    status: str | None = "sent"


@dataclass(frozen=True)
class TemplateSubmission:
    """A template body handed to a provider's review, in the provider's own text format."""

    name: str
    #: ``marketing``, ``utility`` or ``authentication``
    category: str
    #: ours (``en``, ``pt_BR``, …): the adapter spells it as the provider does
    language: str
    #: the body with numbered variables (``Hi {{1}}``)
    text: str
    #: one sample value per variable, in number order
    examples: list[str]
    #: the provider's ID of this name and language when it already knows it (an edit)
    provider_template_id: str = ""


@dataclass(frozen=True)
class TemplateStatusReport:
    """A provider's word on a template's review (an answer, a webhook, a listing)."""

    #: ``pending``, ``approved``, ``rejected`` or ``disabled``
    status: str
    name: str = ""
    #: ours (``en``, ``pt_BR``, …)
    language: str = ""
    provider_template_id: str = ""
    reason: str = ""


@dataclass(frozen=True)
class CallbackBatch:
    statuses: list[StatusReport] = field(default_factory=list)
    inbound: list[InboundMessage] = field(default_factory=list)
    template_statuses: list[TemplateStatusReport] = field(default_factory=list)
    #: parts of the callback the adapter does not know (stored with the callback, ignored)
    ignored: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CallbackRequest:
    """A provider's request to one of our callback URLs, as received (before verification)."""

    method: str
    #: the full URL the provider requested, as it signed it (scheme, host, path, query)
    url: str
    headers: Mapping[str, str]
    body: bytes
    #: the decoded form fields (form-encoded bodies) or query parameters, each with its values
    params: Mapping[str, list[str]]


@dataclass(frozen=True)
class CallbackAnswer:
    """What we answer a provider's callback with."""

    status: int = 200
    content_type: str = "text/plain"
    body: str = ""


@dataclass(frozen=True)
class ConnectionCheck:
    """The result of testing an integration's credentials against the provider."""

    ok: bool
    detail: str = ""


class ProviderError(Exception):
    """A provider refused or failed a call. ``transient`` errors are retried with backoff."""

    transient: ClassVar[bool] = False

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retry_after: float | None = None,
        ambiguous: bool = False,
    ) -> None:
        self.code = code
        self.message = message
        self.retry_after = retry_after
        #: the request may have reached the provider and been acted on (a read timeout, a
        #: connection lost before the answer): it is looked up before being sent again
        self.ambiguous = ambiguous
        super().__init__(f"{code}: {message}")


class TransientProviderError(ProviderError):
    """Timeouts, 5xx, 429: worth trying again later."""

    transient = True


class PermanentProviderError(ProviderError):
    """4xx and other refusals: retrying cannot help; the message fails with this code."""


class ConfigError(ValueError):
    """An integration config the provider cannot work with; ``field`` names the bad key."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


_HTTP_URL = re.compile(r"^https?://[^/\s]+(/[^\s]*)?$")


def read_string_config(
    slug: str, config: Mapping[str, Any], keys: frozenset[str] | set[str]
) -> dict[str, str]:
    """The given keys of a config whose values are all strings, stripped; empty ones left out.

    An unknown key or a value of another type is a `ConfigError` naming it.
    """
    unknown = set(config) - set(keys)
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigError(f"Unknown {slug} config key: {name}.", field=f"config.{name}")
    clean: dict[str, str] = {}
    for key in sorted(keys):
        value = config.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{key} must be a string.", field=f"config.{key}")
        if value:
            clean[key] = value.strip()
    return clean


def read_base_url(clean: Mapping[str, str], default: str) -> str:
    """The config's ``base_url`` (or ``default``), an http(s) URL without its trailing slash."""
    base_url = clean.get("base_url", default)
    if not _HTTP_URL.match(base_url):
        raise ConfigError("base_url must be an http(s) URL.", field="config.base_url")
    return base_url.rstrip("/")


class Provider(abc.ABC):
    slug: ClassVar[str]
    channels: ClassVar[frozenset[str]]
    #: config keys that are never shown back (credentials)
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    #: whether `send` takes templates as such (``OutboundMessage.template``) rather than
    #: their rendered text, and so needs them approved first (WhatsApp Cloud)
    sends_templates: ClassVar[bool] = False
    #: whether `send` is only HTTP calls through `integrations.providers.http` (no database,
    #: no tenant): then a batch's sends run at once, on threads of their own
    sends_concurrently: ClassVar[bool] = False

    @abc.abstractmethod
    def validate_config(self, channel: str, config: Mapping[str, Any]) -> dict[str, Any]:
        """Return the normalised config or raise `ConfigError`."""

    @abc.abstractmethod
    def send(
        self, config: Mapping[str, Any], message: OutboundMessage, *, idempotency_key: str
    ) -> SendResult:
        """Hand the message to the provider.

        ``idempotency_key`` is stable across retries of one message; adapters pass it to
        providers that deduplicate on it. Raises `ProviderError`.
        """

    def find_sent(
        self, config: Mapping[str, Any], message: OutboundMessage, *, since: datetime
    ) -> list[str] | None:
        """The provider's IDs of messages it took for ``message`` since ``since``.

        Asked before a message is sent again after an attempt whose outcome was never
        recorded (the worker died while the provider was answering): ``[]`` means the
        provider surely never took it, and sending is safe. None (the default) means this
        provider cannot tell. Raises `ProviderError` when the provider cannot be asked now.
        """
        return None

    #: the kinds of callback the provider posts, each to its own URL
    #: (``{ENGIUM_PUBLIC_URL}/callbacks/{tenant ID}/{integration ID}/{kind}``)
    callback_kinds: ClassVar[frozenset[str]] = frozenset()

    @abc.abstractmethod
    def callback_urls(
        self, *, public_url: str, callback_root: str, integration_id: str
    ) -> dict[str, str]:
        """The URLs to paste into the provider's console, by purpose (absolute).

        ``callback_root`` is the integration's callback root (no trailing slash): a kind's
        URL is ``{callback_root}/{kind}``. ``public_url`` is ``ENGIUM_PUBLIC_URL``.
        """

    @abc.abstractmethod
    def verify_signature(self, config: Mapping[str, Any], request: CallbackRequest) -> bool:
        """Whether a callback really comes from the provider (constant-time comparisons)."""

    @abc.abstractmethod
    def parse_callback(
        self, config: Mapping[str, Any], payload: Mapping[str, Any]
    ) -> CallbackBatch:
        """Turn a verified callback's payload into status reports and inbound messages."""

    def answer_callback(self, kind: str) -> CallbackAnswer:
        """The answer to a verified callback (stored, processed later)."""
        return CallbackAnswer()

    def answer_verification(
        self, config: Mapping[str, Any], params: Mapping[str, list[str]]
    ) -> CallbackAnswer | None:
        """The answer to a ``GET`` on a callback URL (a subscription check); None: refused."""
        return None

    def download_media(
        self, config: Mapping[str, Any], reference: str, *, dest: IO[bytes], max_bytes: int
    ) -> str:
        """Write an inbound message's media (``InboundMessage.media_reference``) to ``dest``.

        Returns the content type the provider declared. Raises `ProviderError`: transient
        ones are tried again later; a file over ``max_bytes`` is a permanent
        ``media_too_large``.
        """
        raise PermanentProviderError(
            "media_unsupported", f"The {self.slug} provider does not serve inbound media."
        )

    def test_connection(self, config: Mapping[str, Any]) -> ConnectionCheck:
        """Check the credentials against the provider with a harmless read."""
        return ConnectionCheck(ok=True, detail="Nothing to check.")

    def enforces_session_window(self, config: Mapping[str, Any]) -> bool:
        """Whether free-form messages need the recipient to have written in the last 24 h."""
        return False

    def reviews_templates(self, config: Mapping[str, Any]) -> bool:
        """Whether templates are submitted to this integration's provider for review."""
        return False

    def submit_template(
        self, config: Mapping[str, Any], submission: TemplateSubmission
    ) -> TemplateStatusReport:
        """Hand a template body to the provider's review; raises `ProviderError`. Only called
        where `reviews_templates` is true: other providers refuse."""
        raise PermanentProviderError(
            "templates_unreviewed", f"The {self.slug} provider does not review templates."
        )

    def list_templates(self, config: Mapping[str, Any]) -> list[TemplateStatusReport]:
        """Every template the provider knows for this account, with its review status (only
        called where `reviews_templates` is true: other providers refuse)."""
        raise PermanentProviderError(
            "templates_unreviewed", f"The {self.slug} provider does not review templates."
        )

    def public_config(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The config as shown in API answers: secrets left out."""
        return {key: value for key, value in config.items() if key not in self.secret_fields}
