"""Twilio: SMS and WhatsApp through the Messages API, Voice through the Calls API.

* Sends are form-encoded with HTTP basic authentication (account SID, auth token) to
  ``POST {base_url}/2010-04-01/Accounts/{account_sid}/Messages.json`` (SMS; WhatsApp with
  ``whatsapp:`` addresses) and ``…/Calls.json`` (Voice: TwiML ``<Say>`` speaks the text in
  the tenant's language, `SAY_VOICES`), each with a ``StatusCallback`` URL.
* Callbacks are form-encoded and signed with ``X-Twilio-Signature``: base64 of the
  HMAC-SHA1, keyed with the auth token, of the full URL followed by every POST parameter's
  name and value, sorted by name (`signature`). Inbound messages are answered with an
  empty TwiML ``<Response/>``.
* The Messages API takes no idempotency key: a retried send is kept from repeating by the
  delivery service's claim (the message is sent once the API answered 201). When a worker
  died while Twilio was answering, `find_sent` looks the message up in the account's list
  before anything is sent again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import escape, quoteattr

import httpx

from integrations.providers import http
from integrations.providers.base import (
    CallbackAnswer,
    CallbackBatch,
    CallbackRequest,
    ConfigError,
    ConnectionCheck,
    InboundMessage,
    OutboundMessage,
    PermanentProviderError,
    Provider,
    ProviderError,
    SendResult,
    StatusReport,
    TransientProviderError,
    read_base_url,
    read_string_config,
)

DEFAULT_BASE_URL = "https://api.twilio.com"
SIGNATURE_HEADER = "X-Twilio-Signature"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
#: Twilio's own code for "too many requests" (it also answers HTTP 429)
TRANSIENT_CODES = frozenset({"20429"})
#: How many of a recipient's newest messages are searched for one whose outcome we missed,
#: and how far Twilio's clock may lag ours.
LOOKUP_PAGE_SIZE = 50
LOOKUP_CLOCK_SKEW = timedelta(minutes=2)

#: The tenant's language → ``<Say>``'s ``language`` and ``voice``. Twilio's basic ``alice``
#: voice speaks the European languages and Brazilian Portuguese; Arabic, Hindi and
#: Indonesian need a Google voice (Arabic is ``ar-XA``, Google's code for Modern Standard
#: Arabic). A config's ``voice`` overrides the voice.
SAY_VOICES: dict[str, tuple[str, str]] = {
    "en": ("en-US", "alice"),
    "es": ("es-ES", "alice"),
    "pt_BR": ("pt-BR", "alice"),
    "fr": ("fr-FR", "alice"),
    "de": ("de-DE", "alice"),
    "it": ("it-IT", "alice"),
    "ar": ("ar-XA", "Google.ar-XA-Standard-A"),
    "hi": ("hi-IN", "Google.hi-IN-Standard-A"),
    "id": ("id-ID", "Google.id-ID-Standard-A"),
}

#: Twilio's message and call statuses → ours. None: nothing to change (the message is
#: already `sent` once Twilio accepted it, and `queued`/`ringing` say no more than that).
STATUS_MAP: dict[str, str | None] = {
    # Messages
    "accepted": None,
    "scheduled": None,
    "queued": None,
    "sending": None,
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
    # Calls
    "initiated": None,
    "ringing": None,
    "in-progress": "delivered",
    "completed": "delivered",
    "busy": "undelivered",
    "no-answer": "undelivered",
}

#: The delivery error codes seen most, with Twilio's titles (others: "Twilio error N").
ERROR_TITLES = {
    "30001": "Queue overflow",
    "30002": "Account suspended",
    "30003": "Unreachable destination handset",
    "30004": "Message blocked",
    "30005": "Unknown destination handset",
    "30006": "Landline or unreachable carrier",
    "30007": "Message filtered",
    "30008": "Unknown error",
    "63016": "Outside the WhatsApp 24-hour window: use a template",
}

CONFIG_KEYS = {
    "account_sid",
    "auth_token",
    "from_number",
    "messaging_service_sid",
    "base_url",
    "voice",
}


def signature(auth_token: str, url: str, params: Mapping[str, list[str]]) -> str:
    """``X-Twilio-Signature`` of a request: as Twilio's own RequestValidator computes it."""
    payload = url
    for name in sorted(set(params)):
        for value in sorted(set(params[name])):
            payload += name + value
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as given, without and with its default port (Twilio signs what it called)."""
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == "https" else 80
    host = parts.hostname or ""
    bare = urlunsplit(parts._replace(netloc=host))
    ported = urlunsplit(parts._replace(netloc=f"{host}:{parts.port or default_port}"))
    return list(dict.fromkeys([url, bare, ported]))


def _address(channel: str, number: str) -> str:
    return f"whatsapp:{number}" if channel == "whatsapp" else number


def _strip_address(value: str) -> str:
    return value.removeprefix("whatsapp:")


def _twiml_say(text: str, language: str, voice_override: str | None) -> str:
    lang, voice = SAY_VOICES.get(language, SAY_VOICES["en"])
    return (
        f"<Response><Say language={quoteattr(lang)} voice={quoteattr(voice_override or voice)}>"
        f"{escape(text)}</Say></Response>"
    )


def _twilio_time(value: Any) -> datetime | None:
    # Twilio's resources give times in RFC 2822 ("Wed, 18 Aug 2010 20:01:40 +0000").
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _read_error(response: httpx.Response) -> tuple[str, str] | None:
    return http.json_error_reader()(response)


class TwilioProvider(Provider):
    slug = "twilio"
    sends_concurrently = True
    channels = frozenset({"sms", "whatsapp", "voice"})
    secret_fields = frozenset({"auth_token"})
    callback_kinds = frozenset({"status", "inbound"})

    def validate_config(self, channel: str, config: Mapping[str, Any]) -> dict[str, Any]:
        clean: dict[str, Any] = read_string_config(self.slug, config, CONFIG_KEYS)
        if not ACCOUNT_SID.match(clean.get("account_sid", "")):
            raise ConfigError(
                "account_sid is required: AC followed by 32 hexadecimal digits.",
                field="config.account_sid",
            )
        if not clean.get("auth_token"):
            raise ConfigError("auth_token is required.", field="config.auth_token")
        sender = clean.get("from_number")
        service = clean.get("messaging_service_sid")
        if sender and not E164.match(sender):
            raise ConfigError(
                "from_number must be E.164, e.g. +15550100000.", field="config.from_number"
            )
        if service and not MESSAGING_SERVICE_SID.match(service):
            raise ConfigError(
                "messaging_service_sid is MG followed by 32 hexadecimal digits.",
                field="config.messaging_service_sid",
            )
        if channel == "voice" and not sender:
            raise ConfigError("Voice calls need a from_number.", field="config.from_number")
        if not (sender or service):
            raise ConfigError(
                "Give from_number or messaging_service_sid.", field="config.from_number"
            )
        clean["base_url"] = read_base_url(clean, DEFAULT_BASE_URL)
        return clean

    def _account_url(self, config: Mapping[str, Any]) -> str:
        base = config.get("base_url", DEFAULT_BASE_URL)
        return f"{base}/2010-04-01/Accounts/{config['account_sid']}"

    def send(
        self, config: Mapping[str, Any], message: OutboundMessage, *, idempotency_key: str
    ) -> SendResult:
        # Twilio's Messages and Calls APIs take no idempotency key (see the module's doc).
        auth = (config["account_sid"], config["auth_token"])
        form: dict[str, str] = {}
        if message.status_callback_url:
            form["StatusCallback"] = message.status_callback_url
        if message.channel == "voice":
            form.update(
                To=message.recipient,
                From=config["from_number"],
                Twiml=_twiml_say(message.text, message.language, config.get("voice")),
            )
            endpoint = "Calls.json"
        else:
            if message.template is not None:
                raise PermanentProviderError(
                    "template_unsupported", "Twilio templates are not supported yet."
                )
            form["To"] = _address(message.channel, message.recipient)
            if config.get("messaging_service_sid"):
                form["MessagingServiceSid"] = config["messaging_service_sid"]
            else:
                form["From"] = _address(message.channel, config["from_number"])
            if message.text:
                form["Body"] = message.text
            if message.media_url:
                form["MediaUrl"] = message.media_url
            endpoint = "Messages.json"
        response = http.request(
            "POST",
            f"{self._account_url(config)}/{endpoint}",
            provider="twilio",
            read_error=_read_error,
            transient_codes=TRANSIENT_CODES,
            data=form,
            auth=auth,
        )
        try:
            sid = str(response.json()["sid"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError("twilio_bad_answer", "Twilio's answer named no sid.") from exc
        return SendResult(provider_message_id=sid, status="sent")

    def find_sent(
        self, config: Mapping[str, Any], message: OutboundMessage, *, since: datetime
    ) -> list[str]:
        # Twilio lists an account's messages (and calls) newest first, filtered by address:
        # one that we created for this message is to its recipient, from our sender, made
        # after the message was accepted, and (a message) carries its text.
        if message.channel == "voice":
            endpoint, key = "Calls.json", "calls"
            query = {"To": message.recipient, "From": config["from_number"]}
        else:
            endpoint, key = "Messages.json", "messages"
            query = {"To": _address(message.channel, message.recipient)}
            if not config.get("messaging_service_sid"):
                query["From"] = _address(message.channel, config["from_number"])
        response = http.request(
            "GET",
            f"{self._account_url(config)}/{endpoint}",
            provider="twilio",
            read_error=_read_error,
            transient_codes=TRANSIENT_CODES,
            params={**query, "PageSize": str(LOOKUP_PAGE_SIZE)},
            auth=(config["account_sid"], config["auth_token"]),
        )
        try:
            listed = response.json()[key]
            if not isinstance(listed, list):
                raise TypeError(key)
        except (ValueError, KeyError, TypeError) as exc:
            raise TransientProviderError(
                "twilio_bad_answer", f"Twilio's {key} list could not be read."
            ) from exc
        found = []
        for item in listed:
            if not isinstance(item, Mapping) or not item.get("sid"):
                continue
            created = _twilio_time(item.get("date_created"))
            if created is None or created < since - LOOKUP_CLOCK_SKEW:
                continue
            if key == "messages" and (item.get("body") or "") != (message.text or ""):
                continue
            if not str(item.get("direction", "outbound")).startswith("outbound"):
                continue
            found.append(str(item["sid"]))
        return found

    def callback_urls(
        self, *, public_url: str, callback_root: str, integration_id: str
    ) -> dict[str, str]:
        return {"status": f"{callback_root}/status", "inbound": f"{callback_root}/inbound"}

    def verify_signature(self, config: Mapping[str, Any], request: CallbackRequest) -> bool:
        given = next(
            (v for k, v in request.headers.items() if k.lower() == SIGNATURE_HEADER.lower()), ""
        )
        token = config.get("auth_token")
        if not given or not token or request.method != "POST":
            return False
        return any(
            hmac.compare_digest(signature(token, url, request.params).encode(), given.encode())
            for url in _url_variants(request.url)
        )

    def answer_callback(self, kind: str) -> CallbackAnswer:
        if kind == "inbound":
            return CallbackAnswer(content_type="text/xml", body="<Response/>")
        return CallbackAnswer(status=204)

    def parse_callback(
        self, config: Mapping[str, Any], payload: Mapping[str, Any]
    ) -> CallbackBatch:
        def field(name: str) -> str:
            value = payload.get(name, "")
            return str(value[0] if isinstance(value, list) and value else value or "")

        sid = field("MessageSid") or field("SmsSid")
        message_status = field("MessageStatus") or field("SmsStatus")
        if message_status == "received" or (sid and field("Body") and not message_status):
            return CallbackBatch(inbound=[self._inbound(payload, field)])
        call_status = field("CallStatus")
        twilio_status = message_status or call_status
        provider_id = sid or field("CallSid")
        if not twilio_status or not provider_id:
            return CallbackBatch(ignored=["no MessageStatus or CallStatus"])
        if twilio_status not in STATUS_MAP:
            return CallbackBatch(ignored=[f"unknown status {twilio_status}"])
        ours = STATUS_MAP[twilio_status]
        if ours is None:
            return CallbackBatch(ignored=[f"status {twilio_status} changes nothing"])
        code = field("ErrorCode")
        error_message = ""
        if code:
            error_message = field("ErrorMessage") or ERROR_TITLES.get(code, f"Twilio error {code}")
        elif ours in {"failed", "undelivered"}:
            code = f"twilio_{twilio_status.replace('-', '_')}"
            error_message = f"Twilio reported {twilio_status}."
        our_id = field("message_id")  # from the StatusCallback URL's query (signed)
        return CallbackBatch(
            statuses=[
                StatusReport(
                    status=ours,
                    provider_message_id=provider_id,
                    message_id=our_id if our_id.startswith("msg_") else None,
                    error_code=code or None,
                    error_message=error_message or None,
                )
            ]
        )

    def _inbound(self, payload: Mapping[str, Any], field: Any) -> InboundMessage:
        media_count = int(field("NumMedia") or 0)
        details: dict[str, Any] | None = None
        media_url = media_type = None
        if media_count:
            mime = field("MediaContentType0")
            media_url = field("MediaUrl0") or None
            media_type = (
                mime.split("/")[0]
                if mime.split("/")[0]
                in {
                    "image",
                    "audio",
                    "video",
                }
                else "document"
            )
            details = {
                "type": media_type,
                "media": [
                    {"url": field(f"MediaUrl{i}"), "mime_type": field(f"MediaContentType{i}")}
                    for i in range(media_count)
                ],
            }
        if field("Latitude") and field("Longitude"):
            details = {
                "type": "location",
                "location": {
                    "latitude": float(field("Latitude")),
                    "longitude": float(field("Longitude")),
                    "address": field("Address") or None,
                    "name": field("Label") or None,
                },
            }
        if field("ButtonPayload") or field("ButtonText"):
            details = {
                "type": "button",
                "button": {"payload": field("ButtonPayload"), "text": field("ButtonText")},
            }
        return InboundMessage(
            sender=_strip_address(field("From")),
            text=field("Body"),
            provider_message_id=field("MessageSid") or field("SmsSid") or None,
            media_url=media_url,
            media_type=media_type,
            details=details,
            media_reference=media_url,
            media_content_type=field("MediaContentType0") or None if media_url else None,
        )

    def download_media(
        self, config: Mapping[str, Any], reference: str, *, dest: IO[bytes], max_bytes: int
    ) -> str:
        """``MediaUrl0`` with the account's basic auth (Twilio redirects to its storage)."""
        return http.download(
            reference,
            provider="twilio",
            dest=dest,
            max_bytes=max_bytes,
            read_error=_read_error,
            auth=(config["account_sid"], config["auth_token"]),
        )

    def test_connection(self, config: Mapping[str, Any]) -> ConnectionCheck:
        try:
            http.request(
                "GET",
                f"{self._account_url(config)}.json",
                provider="twilio",
                read_error=_read_error,
                auth=(config["account_sid"], config["auth_token"]),
            )
        except ProviderError as error:
            return ConnectionCheck(ok=False, detail=f"{error.code}: {error.message}")
        return ConnectionCheck(ok=True, detail="Twilio accepted the credentials.")
