"""The product's errors: one hierarchy, raised by services and views alike.

Each error carries a stable machine-readable ``code`` and the HTTP status it answers with;
`engium.api.errors` renders them as ``{"error": {"code", "message", "field"?, "details"?}}``
(docs/api.md#errors). This module imports nothing of the web layer, so the domain can
raise these anywhere.
"""

from __future__ import annotations

from typing import Any


class EngiumError(Exception):
    """An error with a stable machine-readable code and the HTTP status it answers with."""

    code = "error"
    status = 400
    message = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.field = field
        self.details = details
        self.headers = headers or {}
        #: How many problems there were when ``details`` lists only the first ones.
        self.details_total: int | None = None
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        if self.details_total is not None:
            body["details_total"] = self.details_total
        return {"error": body}


class ValidationFailed(EngiumError):
    code = "validation_error"
    message = "The request body is not valid."


class MalformedJSON(EngiumError):
    code = "malformed_json"
    message = "The request body is not valid JSON."


class MalformedBody(EngiumError):
    code = "malformed_body"
    message = "The request body could not be read: its chunked transfer encoding is broken."


class InvalidRecipient(EngiumError):
    code = "invalid_recipient"
    message = "The recipient is not a possible phone number in E.164 format."


class ChannelNotConfigured(EngiumError):
    code = "channel_not_configured"
    message = "The tenant has no active integration for this channel."


class AgentRoleNotFound(EngiumError):
    code = "agent_role_not_found"
    message = "No agent role with this ID exists."


class TemplateNotFound(EngiumError):
    code = "template_not_found"
    message = "No template with this ID exists."


class TemplateLanguageUnavailable(EngiumError):
    code = "template_language_unavailable"
    message = "The template has no body in the requested, the default or the English language."


class TemplateNotApproved(EngiumError):
    code = "template_not_approved"
    message = "WhatsApp has not approved this template in this language."


class OutsideSessionWindow(EngiumError):
    code = "outside_session_window"
    message = (
        "The recipient has not written in the last 24 hours: WhatsApp takes only a template "
        "message now."
    )


class AuthenticationFailed(EngiumError):
    code = "authentication_failed"
    status = 401
    message = "Missing or invalid API key or tenant ID."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="api"'})
        super().__init__(message, **kwargs)


class TenantSuspended(EngiumError):
    code = "tenant_suspended"
    status = 403
    message = "This tenant is suspended."


class PermissionDeniedError(EngiumError):
    code = "permission_denied"
    status = 403
    message = "You do not have permission to perform this action."


class NotFound(EngiumError):
    code = "not_found"
    status = 404
    message = "The requested resource does not exist."


class MethodNotAllowed(EngiumError):
    code = "method_not_allowed"
    status = 405
    message = "This method is not allowed on this resource."


class NotAcceptable(EngiumError):
    code = "not_acceptable"
    status = 406
    message = "This resource answers in application/json only."


class IdempotencyConflict(EngiumError):
    code = "idempotency_conflict"
    status = 409
    message = "This Idempotency-Key was used with a different request body."


class ConversationNotPendingHuman(EngiumError):
    code = "conversation_not_pending_human"
    status = 409
    message = "The conversation is not handed off to a person."


class PayloadTooLarge(EngiumError):
    code = "payload_too_large"
    status = 413
    message = "The request body is larger than 1 MiB."


class UnsupportedMediaType(EngiumError):
    code = "unsupported_media_type"
    status = 415
    message = "Send the request body as application/json."


class RateLimited(EngiumError):
    code = "rate_limited"
    status = 429
    message = "Too many requests."


class ServiceUnavailable(EngiumError):
    """The database could not be reached or gave up on the request (a restart, a failover,
    a deadlock): nothing was changed, and trying again shortly is the cure."""

    code = "service_unavailable"
    status = 503
    message = "The service is briefly unavailable; the request changed nothing. Try again."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": "1"})
        super().__init__(message, **kwargs)


class InternalError(EngiumError):
    code = "internal_error"
    status = 500
    message = "Something went wrong on our side; the request changed nothing."


class InvalidSignature(EngiumError):
    """A provider callback whose signature (or verification token) does not check out."""

    code = "invalid_signature"
    status = 403
    message = "The request's signature is missing or does not match."
