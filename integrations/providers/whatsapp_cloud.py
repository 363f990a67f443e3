"""WhatsApp Cloud API (Meta's Graph API): text, media and template messages; templates'
review; webhooks.

* Sends go to ``POST {base_url}/{api_version}/{phone_number_id}/messages`` as JSON with a
  Bearer token (the system user's access token).
* The webhook's ``GET`` verification echoes ``hub.challenge`` when ``hub.verify_token``
  equals the config's ``verify_token`` (a constant-time comparison); events are ``POST``s
  signed with ``X-Hub-Signature-256``: ``sha256=`` and the hex HMAC-SHA256 of the raw body,
  keyed with the app secret.
* One event may batch several entries and changes, each with statuses and messages: every
  one of them is applied.
* Templates are submitted to ``POST /{business_account_id}/message_templates`` (an edit to
  ``POST /{template_id}``), listed with ``GET /{business_account_id}/message_templates``, and
  their review arrives as the ``message_template_status_update`` webhook field.
* The Cloud API takes no idempotency key: a retried send is kept from repeating by the
  delivery service's claim (the message is sent once Graph answered with its ``wamid``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

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
    TemplateStatusReport,
    TemplateSubmission,
    read_base_url,
    read_string_config,
)

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
SIGNATURE_HEADER = "X-Hub-Signature-256"
#: Meta's throttling and temporary-failure codes: retried even when answered with HTTP 400.
#: 4 (app rate limit), 80007 (WABA rate limit), 130429 (throughput), 131048 (spam rate
#: limit), 131056 (pair rate limit), 133016 (registration rate limit).
TRANSIENT_CODES = frozenset({"4", "80007", "130429", "131048", "131056", "133016"})
MEDIA_TYPES = ("image", "audio", "video", "document")
INBOUND_MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
STATUS_MAP = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}
#: the tenant's language → Meta's template language code
TEMPLATE_LANGUAGES = {
    "en": "en",
    "es": "es",
    "pt_BR": "pt_BR",
    "fr": "fr",
    "de": "de",
    "it": "it",
    "ar": "ar",
    "hi": "hi",
    "id": "id",
}
META_LANGUAGES = {code: ours for ours, code in TEMPLATE_LANGUAGES.items()}
#: Meta's template statuses (listing) and events (webhook) → ours. FLAGGED and REINSTATED
#: templates are sendable; LOCKED and others say nothing about usability and are ignored.
TEMPLATE_STATUS_MAP = {
    "APPROVED": "approved",
    "REINSTATED": "approved",
    "FLAGGED": "approved",
    "UNPAUSED": "approved",
    "PENDING": "pending",
    "IN_APPEAL": "pending",
    "REJECTED": "rejected",
    "PAUSED": "disabled",
    "DISABLED": "disabled",
    "ARCHIVED": "disabled",
    "PENDING_DELETION": "disabled",
    "DELETED": "disabled",
}
#: how many pages of templates a listing reads at most (100 templates each)
MAX_TEMPLATE_PAGES = 50
SESSION_WINDOW_KEY = "session_window"
CONFIG_KEYS = {
    "phone_number_id",
    "business_account_id",
    "access_token",
    "app_secret",
    "verify_token",
    "api_version",
    "base_url",
}


def hub_signature(app_secret: str, body: bytes) -> str:
    """``X-Hub-Signature-256`` of a webhook body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _read_error(response: httpx.Response) -> tuple[str, str] | None:
    """Graph's ``{"error": {"code", "message", "error_data": {"details"}}}``."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping) or "code" not in error:
        return None
    details = error.get("error_data", {})
    detail = details.get("details") if isinstance(details, Mapping) else None
    message = str(error.get("message", ""))
    return str(error["code"]), f"{message} ({detail})" if detail else message


def _occurred(timestamp: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _template(template: Mapping[str, Any]) -> dict[str, Any]:
    """The send's ``template`` object: name, language and the body's values in number order.

    Engium submits named variables in Meta's positional format (``{{1}}``, numbered in the
    order they first appear in the body), so the values go in that order, as text.
    """
    language = str(template["language"])
    body: dict[str, Any] = {
        "name": template["name"],
        "language": {"code": TEMPLATE_LANGUAGES.get(language, language)},
    }
    parameters = list(template.get("parameters") or [])
    if parameters:
        body["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": str(v)} for v in parameters]}
        ]
    return body


def _template_status(event: str) -> str | None:
    """Meta's template status or webhook event → ours (None: not a change of usability)."""
    return TEMPLATE_STATUS_MAP.get(event.upper())


def _language_of(code: str) -> str:
    """Meta's language code → ours (unknown codes unchanged, so they match nothing)."""
    return META_LANGUAGES.get(code, code)


class WhatsAppCloudProvider(Provider):
    slug = "whatsapp_cloud"
    sends_concurrently = True
    channels = frozenset({"whatsapp"})
    secret_fields = frozenset({"access_token", "app_secret", "verify_token"})
    callback_kinds = frozenset({"events"})
    sends_templates = True

    def validate_config(self, channel: str, config: Mapping[str, Any]) -> dict[str, Any]:
        # The one key that is not a string: whether the 24-hour window is checked on send.
        window = config.get(SESSION_WINDOW_KEY, True)
        if not isinstance(window, bool):
            raise ConfigError(
                f"{SESSION_WINDOW_KEY} is true or false.", field=f"config.{SESSION_WINDOW_KEY}"
            )
        strings = {key: value for key, value in config.items() if key != SESSION_WINDOW_KEY}
        clean: dict[str, Any] = read_string_config(self.slug, strings, CONFIG_KEYS)
        clean[SESSION_WINDOW_KEY] = window
        if not re.match(r"^\d{5,20}$", clean.get("phone_number_id", "")):
            raise ConfigError(
                "phone_number_id is required (digits).", field="config.phone_number_id"
            )
        waba_id = clean.get("business_account_id")
        if waba_id is not None and not re.match(r"^\d{5,20}$", waba_id):
            raise ConfigError(
                "business_account_id is the WhatsApp Business Account's ID (digits).",
                field="config.business_account_id",
            )
        for key in ("access_token", "app_secret", "verify_token"):
            if not clean.get(key):
                raise ConfigError(f"{key} is required.", field=f"config.{key}")
        version = clean.setdefault("api_version", DEFAULT_API_VERSION)
        if not re.match(r"^v\d+\.\d+$", version):
            raise ConfigError("api_version looks like v21.0.", field="config.api_version")
        clean["base_url"] = read_base_url(clean, DEFAULT_BASE_URL)
        return clean

    def _graph_url(self, config: Mapping[str, Any], node: str) -> str:
        base = config.get("base_url", DEFAULT_BASE_URL)
        version = config.get("api_version", DEFAULT_API_VERSION)
        return f"{base}/{version}/{node}"

    def _phone_url(self, config: Mapping[str, Any]) -> str:
        return self._graph_url(config, config["phone_number_id"])

    def enforces_session_window(self, config: Mapping[str, Any]) -> bool:
        return bool(config.get(SESSION_WINDOW_KEY, True))

    def reviews_templates(self, config: Mapping[str, Any]) -> bool:
        return bool(config.get("business_account_id"))

    def submit_template(
        self, config: Mapping[str, Any], submission: TemplateSubmission
    ) -> TemplateStatusReport:
        """Create the template (``POST /{waba_id}/message_templates``), or edit the one Meta
        already knows by this name and language (``POST /{template_id}``)."""
        body_component: dict[str, Any] = {"type": "BODY", "text": submission.text}
        if submission.examples:
            body_component["example"] = {"body_text": [list(submission.examples)]}
        language = TEMPLATE_LANGUAGES.get(submission.language, submission.language)
        payload: dict[str, Any] = {
            "category": submission.category.upper(),
            "components": [body_component],
        }
        if submission.provider_template_id:
            url = self._graph_url(config, submission.provider_template_id)
        else:
            url = self._graph_url(config, f"{config['business_account_id']}/message_templates")
            payload = {"name": submission.name, "language": language, **payload}
        response = http.request(
            "POST",
            url,
            provider="whatsapp_cloud",
            read_error=_read_error,
            transient_codes=TRANSIENT_CODES,
            json=payload,
            headers=self._headers(config),
        )
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        answer = answer if isinstance(answer, Mapping) else {}
        return TemplateStatusReport(
            # An edit answers {"success": true}: the new text is under review again.
            status=_template_status(str(answer.get("status") or "PENDING")) or "pending",
            name=submission.name,
            language=submission.language,
            provider_template_id=str(answer.get("id") or submission.provider_template_id),
        )

    def list_templates(self, config: Mapping[str, Any]) -> list[TemplateStatusReport]:
        """``GET /{waba_id}/message_templates``, page after page (by Graph's ``after`` cursor)."""
        reports: list[TemplateStatusReport] = []
        params = {"fields": "id,name,language,status,rejected_reason", "limit": "100"}
        url = self._graph_url(config, f"{config['business_account_id']}/message_templates")
        for _ in range(MAX_TEMPLATE_PAGES):
            response = http.request(
                "GET",
                url,
                provider="whatsapp_cloud",
                read_error=_read_error,
                transient_codes=TRANSIENT_CODES,
                params=params,
                headers=self._headers(config),
            )
            try:
                page = response.json()
            except ValueError as exc:
                raise ProviderError(
                    "whatsapp_cloud_bad_answer", "Graph's answer is not JSON."
                ) from exc
            for row in page.get("data") or [] if isinstance(page, Mapping) else []:
                status = _template_status(str(row.get("status", "")))
                if status is None or not row.get("name"):
                    continue
                reason = str(row.get("rejected_reason") or "")
                reports.append(
                    TemplateStatusReport(
                        status=status,
                        name=str(row["name"]),
                        language=_language_of(str(row.get("language", ""))),
                        provider_template_id=str(row.get("id") or ""),
                        reason="" if reason == "NONE" else reason,
                    )
                )
            paging = page.get("paging") if isinstance(page, Mapping) else None
            after = (paging or {}).get("cursors", {}).get("after") if paging else None
            if not (paging and paging.get("next") and after):
                break
            params = {**params, "after": str(after)}
        return reports

    def _headers(self, config: Mapping[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {config['access_token']}"}

    def send(
        self, config: Mapping[str, Any], message: OutboundMessage, *, idempotency_key: str
    ) -> SendResult:
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.recipient,
            # Echoed in this message's status webhooks: they find it by our ID even if the
            # outcome of this send is never recorded (a worker killed after Graph answered).
            "biz_opaque_callback_data": message.message_id,
        }
        if message.template is not None:
            body.update(type="template", template=_template(message.template))
        elif message.media_url and message.media_type in MEDIA_TYPES:
            media: dict[str, Any] = {"link": message.media_url}
            if message.text and message.media_type != "audio":  # audio takes no caption
                media["caption"] = message.text
            if message.media_type == "document" and message.media_filename:
                media["filename"] = message.media_filename
            body.update({"type": message.media_type, message.media_type: media})
        else:
            body.update(type="text", text={"preview_url": False, "body": message.text})
        response = http.request(
            "POST",
            f"{self._phone_url(config)}/messages",
            provider="whatsapp_cloud",
            read_error=_read_error,
            transient_codes=TRANSIENT_CODES,
            json=body,
            headers=self._headers(config),
        )
        try:
            wamid = str(response.json()["messages"][0]["id"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ProviderError(
                "whatsapp_cloud_bad_answer", "Graph's answer named no message ID."
            ) from exc
        return SendResult(provider_message_id=wamid, status="sent")

    def callback_urls(
        self, *, public_url: str, callback_root: str, integration_id: str
    ) -> dict[str, str]:
        return {"events": f"{callback_root}/events"}

    def verify_signature(self, config: Mapping[str, Any], request: CallbackRequest) -> bool:
        if request.method == "GET":  # the subscription check: its token is its proof
            return self.answer_verification(config, request.params) is not None
        given = next(
            (v for k, v in request.headers.items() if k.lower() == SIGNATURE_HEADER.lower()), ""
        )
        secret = config.get("app_secret")
        if not given or not secret:
            return False
        return hmac.compare_digest(hub_signature(secret, request.body).encode(), given.encode())

    def answer_verification(
        self, config: Mapping[str, Any], params: Mapping[str, list[str]]
    ) -> CallbackAnswer | None:
        def first(name: str) -> str:
            values = params.get(name) or [""]
            return values[0]

        token = config.get("verify_token", "")
        if first("hub.mode") != "subscribe" or not token:
            return None
        if not hmac.compare_digest(first("hub.verify_token").encode(), token.encode()):
            return None
        return CallbackAnswer(content_type="text/plain", body=first("hub.challenge"))

    def parse_callback(
        self, config: Mapping[str, Any], payload: Mapping[str, Any]
    ) -> CallbackBatch:
        batch = CallbackBatch()
        if payload.get("object") != "whatsapp_business_account":
            batch.ignored.append(f"object {payload.get('object')!r}")
            return batch
        for entry in payload.get("entry") or []:
            for change in entry.get("changes") or []:
                value = change.get("value") or {}
                if change.get("field") == "message_template_status_update":
                    self._template_status(value, batch)
                    continue
                if change.get("field") != "messages":
                    batch.ignored.append(f"field {change.get('field')!r}")
                    continue
                for status in value.get("statuses") or []:
                    self._status(status, batch)
                for message in value.get("messages") or []:
                    self._inbound(message, batch)
        return batch

    def _status(self, status: Mapping[str, Any], batch: CallbackBatch) -> None:
        ours = STATUS_MAP.get(str(status.get("status")))
        if ours is None or not status.get("id"):
            batch.ignored.append(f"status {status.get('status')!r}")
            return
        code = title = None
        errors = status.get("errors") or []
        if errors:
            code = str(errors[0].get("code", ""))
            title = str(errors[0].get("title") or errors[0].get("message") or "")
        ours_id = str(status.get("biz_opaque_callback_data") or "")
        batch.statuses.append(
            StatusReport(
                status=ours,
                provider_message_id=str(status["id"]),
                message_id=ours_id if ours_id.startswith("msg_") else None,
                error_code=code,
                error_message=title,
                occurred_at=_occurred(status.get("timestamp")),
            )
        )

    def _template_status(self, value: Mapping[str, Any], batch: CallbackBatch) -> None:
        event = str(value.get("event", ""))
        status = _template_status(event)
        if status is None:
            batch.ignored.append(f"template event {event!r}")
            return
        reason = str(value.get("reason") or "")
        info = value.get("rejection_info")
        if isinstance(info, Mapping) and info.get("reason"):
            reason = (
                f"{reason}: {info['reason']}"
                if reason and reason != "NONE"
                else str(info["reason"])
            )
        batch.template_statuses.append(
            TemplateStatusReport(
                status=status,
                name=str(value.get("message_template_name") or ""),
                language=_language_of(str(value.get("message_template_language") or "")),
                provider_template_id=str(value.get("message_template_id") or ""),
                reason="" if reason == "NONE" else reason,
            )
        )

    def _inbound(self, message: Mapping[str, Any], batch: CallbackBatch) -> None:
        kind = str(message.get("type", ""))
        sender = str(message.get("from", ""))
        if not sender:
            batch.ignored.append("a message without a sender")
            return
        text = ""
        media_type = None
        details: dict[str, Any] = {"type": kind}
        content = message.get(kind) or {}
        if kind == "text":
            text = str(content.get("body", ""))
        elif kind in INBOUND_MEDIA_TYPES:
            # Kept as a reference: fetching the media needs the access token (Graph's media
            # endpoint), so it stays at Meta until someone asks for it.
            text = str(content.get("caption", ""))
            media_type = "image" if kind == "sticker" else kind
            details["media"] = {
                key: content[key]
                for key in ("id", "mime_type", "sha256", "filename", "animated")
                if key in content
            }
        elif kind == "location":
            details["location"] = dict(content)
            text = str(content.get("name") or content.get("address") or "")
        elif kind == "contacts":
            details["contacts"] = list(message.get("contacts") or [])
        elif kind == "interactive":
            reply_type = str(content.get("type", ""))
            reply = content.get(reply_type) or {}
            details["interactive"] = {"type": reply_type, **reply}
            text = str(reply.get("title", ""))
        elif kind == "button":
            details["button"] = dict(content)
            text = str(content.get("text", ""))
        elif kind == "reaction":
            details["reaction"] = dict(content)
            text = str(content.get("emoji", ""))
        else:  # unsupported, system, order, …: stored as received, without text
            details["raw"] = dict(message)
        if message.get("context"):
            details["context"] = dict(message["context"])
        media = details.get("media") or {}
        batch.inbound.append(
            InboundMessage(
                sender=sender if sender.startswith("+") else f"+{sender}",
                text=text,
                provider_message_id=str(message.get("id") or "") or None,
                media_type=media_type,
                details=None if details == {"type": "text"} else details,
                media_reference=str(media["id"]) if media.get("id") else None,
                media_content_type=str(media.get("mime_type") or "") or None,
            )
        )

    def download_media(
        self, config: Mapping[str, Any], reference: str, *, dest: IO[bytes], max_bytes: int
    ) -> str:
        """``GET /{api_version}/{media ID}`` names a short-lived ``url``, fetched with the token.

        Both calls carry the Bearer token; the ``url`` is Meta's and is valid for minutes,
        which is why it is asked for at each attempt.
        """
        if not re.match(r"^\d{1,40}$", reference):
            raise PermanentProviderError("media_reference_invalid", "Not a Graph media ID.")
        base = config.get("base_url", DEFAULT_BASE_URL)
        version = config.get("api_version", DEFAULT_API_VERSION)
        response = http.request(
            "GET",
            f"{base}/{version}/{reference}",
            provider="whatsapp_cloud",
            read_error=_read_error,
            transient_codes=TRANSIENT_CODES,
            headers=self._headers(config),
        )
        try:
            url = str(response.json()["url"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError(
                "whatsapp_cloud_bad_answer", "Graph's media answer named no url."
            ) from exc
        if not url.startswith(("https://", "http://")):
            raise PermanentProviderError(
                "whatsapp_cloud_bad_answer", "Graph's media url is not http(s)."
            )
        return http.download(
            url,
            provider="whatsapp_cloud",
            dest=dest,
            max_bytes=max_bytes,
            read_error=_read_error,
            headers=self._headers(config),
        )

    def test_connection(self, config: Mapping[str, Any]) -> ConnectionCheck:
        try:
            response = http.request(
                "GET",
                self._phone_url(config),
                provider="whatsapp_cloud",
                read_error=_read_error,
                params={"fields": "display_phone_number,verified_name"},
                headers=self._headers(config),
            )
        except ProviderError as error:
            return ConnectionCheck(ok=False, detail=f"{error.code}: {error.message}")
        try:
            number = str(response.json().get("display_phone_number", ""))
        except ValueError:
            number = ""
        return ConnectionCheck(ok=True, detail=f"Graph knows the number {number}".strip() + ".")
