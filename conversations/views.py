"""Conversations API: send, read, close. Views parse and render; services decide."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, ClassVar

from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.utils.datastructures import MultiValueDict
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from conversations import selectors, services
from conversations.openapi import (
    CONVERSATION_ID,
    IDEMPOTENCY_HEADERS,
    MESSAGE_ID,
    RATE_LIMIT_HEADERS,
    SEND_EXAMPLES,
    ConversationDetailSerializer,
    ConversationPageSerializer,
    ConversationSerializer,
    MessagePageSerializer,
    MessageSerializer,
    SendResultSerializer,
)
from conversations.serializers import (
    ConversationListQuery,
    MessageListQuery,
    SandboxInboundSerializer,
    SendMessageSerializer,
    render_conversation,
    render_message,
    render_send_result,
)
from conversations.services import idempotency
from engium.api.openapi import AUTH_ERRORS, BODY_ERRORS, MALFORMED_BODY, error_responses
from engium.api.pagination import paginate
from engium.api.parsers import StrictJSONParser
from engium.api.views import PLAIN_ACCEPTS, EngiumAPIView, validated
from engium.exceptions import EngiumError, NotFound, RateLimited
from engium.ratelimit import MovingWindowLimiter, Permit
from integrations import selectors as integration_selectors
from integrations.openapi import INTEGRATION_ID
from tenants.authentication import ApiKeyAuthentication
from tenants.models import Tenant

# Outbound sends per tenant in any 60 s, shared by every web process (docs/api.md#rate-limits).
SEND_LIMITER = MovingWindowLimiter(f"{settings.CACHES['default']['KEY_PREFIX']}:ratelimit:send")

_LIST_400 = "A filter is not valid (`validation_error`)."


def _replayed(answer: idempotency.Answer) -> dict[str, str]:
    return {"Idempotent-Replayed": "true"} if answer.replayed else {}


#: The one renderer the API has (DRF's JSONRenderer, with the project's settings).
_RENDERER = JSONRenderer()
_PARSER = StrictJSONParser()


def _plain_send(request: HttpRequest) -> bool:
    """Whether DRF's `initial` would pass ``request`` to `post` as it is: a POST whose body
    is JSON, of a length the parser takes, with an Accept that takes JSON and no query
    string (`EngiumAPIView.perform_content_negotiation`), authenticated by the middleware."""
    meta = request.META
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return (
        request.method == "POST"
        and meta.get("CONTENT_TYPE") == "application/json"
        and 0 < length <= settings.ENGIUM_MAX_BODY_BYTES
        and meta.get("HTTP_ACCEPT", "*/*") in PLAIN_ACCEPTS
        and not meta.get("QUERY_STRING")
        and "HTTP_TRANSFER_ENCODING" not in meta
        and getattr(request, "api_principal", None) is not None
    )


class _Body:
    """A request's JSON body, parsed once on first use, as DRF's ``request.data`` parses it."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request
        self.read = self.parsed = False
        self.value: Any = None

    def data(self) -> Any:
        if not self.parsed:
            # Where DRF reads it from: the request's stream, or its body once read.
            request = self.request
            started = request._read_started  # type: ignore[attr-defined]
            self.read = True
            self.value = _PARSER.parse(io.BytesIO(request.body) if started else request)
            self.parsed = True
        return self.value


class SendMessageView(EngiumAPIView):
    limiter: MovingWindowLimiter = SEND_LIMITER
    _plain_path_holds: ClassVar[bool | None] = None  # per class: `_drf_would_only_authenticate`

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # The commonest send (a JSON body, an Accept that takes JSON, authenticated by the
        # middleware) skips DRF's request wrapper, negotiation and response rendering: DRF's
        # `initial` could not refuse it. Its answer is the one DRF would render; an error
        # leaves through DRF's own handling (`_drf_error`).
        if not (_plain_send(request) and self._drf_would_only_authenticate()):
            return super().dispatch(request, *args, **kwargs)
        self.args, self.kwargs = args, kwargs
        self.headers = self.default_response_headers
        body = _Body(request)
        try:
            answer, headers = self._post(
                request.tenant,  # type: ignore[attr-defined]
                request.headers.get("Idempotency-Key"),
                body.data,
            )
        except Exception as error:
            return self._drf_error(request, error, body, *args, **kwargs)
        response = HttpResponse(
            _RENDERER.render(answer.body), status=answer.status, content_type="application/json"
        )
        for name, value in (*headers.items(), *self.headers.items()):
            response[name] = value
        return response

    @classmethod
    def _drf_would_only_authenticate(cls) -> bool:
        """Whether DRF's `initial` does nothing here but what the plain path checks: the
        settings it assumes (no throttles or versioning, `IsAuthenticated` over the
        middleware's principal, one JSON parser and renderer). A view or setting changed
        later sends every request DRF's whole way; decided once per class."""
        decided = cls.__dict__.get("_plain_path_holds")
        if decided is None:
            decided = (
                not cls.throttle_classes
                and cls.versioning_class is None
                and list(cls.permission_classes) == [IsAuthenticated]
                and list(cls.authentication_classes) == [ApiKeyAuthentication]
                and list(cls.parser_classes) == [StrictJSONParser]
                and list(cls.renderer_classes) == [JSONRenderer]
            )
            cls._plain_path_holds = decided
        return decided

    def _drf_error(
        self, request: HttpRequest, error: Exception, body: _Body, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        """The answer DRF's `dispatch` gives for ``error`` raised by its handler."""
        drf_request = self.initialize_request(request, *args, **kwargs)
        if body.read:  # the stream is read: what DRF's own parse leaves, it leaves
            parsed = body.value if body.parsed else QueryDict("")
            drf_request._data = drf_request._full_data = parsed  # type: ignore[attr-defined]
            drf_request._files = MultiValueDict()  # type: ignore[attr-defined]
        self.request = drf_request
        self.format_kwarg = self.get_format_suffix(**kwargs)  # what `initial` does first
        drf_request.accepted_renderer, drf_request.accepted_media_type = (
            self.perform_content_negotiation(drf_request)
        )
        self.response = self.finalize_response(
            drf_request, self.handle_exception(error), *args, **kwargs
        )
        return self.response

    @extend_schema(
        operation_id="conversations_send",
        summary="Send a message",
        description=(
            "Queue a text, media or template message to a recipient on a channel. It joins the "
            "recipient's open conversation on that channel, or opens a new one. Delivery is "
            "asynchronous: follow `status` on the message, or subscribe to webhooks."
        ),
        request=SendMessageSerializer,
        examples=SEND_EXAMPLES,
        parameters=[*IDEMPOTENCY_HEADERS, *RATE_LIMIT_HEADERS],
        responses={
            201: OpenApiResponse(
                SendResultSerializer, description="The conversation, with the queued message."
            ),
            **error_responses(
                *BODY_ERRORS,
                409,
                429,
                e400=(
                    f"The request is not valid: a field (`validation_error`), {MALFORMED_BODY}, "
                    "the recipient (`invalid_recipient`), no active integration for the channel "
                    "(`channel_not_configured`), an unknown `agent_role_id` "
                    "(`agent_role_not_found`) or template (`template_not_found`), a template "
                    "without a body in the requested, default or English language "
                    "(`template_language_unavailable`), a missing or unknown template variable "
                    "(`validation_error`, `field` `message.template.variables.<name>`), on "
                    "WhatsApp Cloud a template not approved in that language "
                    "(`template_not_approved`) or a text or media message to a recipient who "
                    "has not written in 24 hours (`outside_session_window`), or an Engium "
                    "media URL that is not valid (`invalid_media_url`), expired "
                    "(`media_url_expired`), "
                    "not this tenant's (`media_not_found`), of another type "
                    "(`media_type_mismatch`) or too large for the channel "
                    "(`media_too_large`, `media_not_supported`)."
                ),
            ),
        },
    )
    def post(self, request: Request) -> Response:
        answer, headers = self._post(
            request.tenant,  # type: ignore[attr-defined]
            request.headers.get("Idempotency-Key"),
            lambda: request.data,
        )
        return Response(answer.body, status=answer.status, headers=headers)

    def _post(
        self, tenant: Tenant, key: str | None, read_body: Callable[[], Any]
    ) -> tuple[idempotency.Answer, dict[str, str]]:
        """The send's answer and its headers; ``read_body``: the parsed body (may raise)."""
        claim = None
        if key is not None:
            claim = idempotency.Claim(
                key=idempotency.check_key(key),
                request_hash=idempotency.fingerprint(read_body()),
                render=render_send_result,
            )
        # The limiter's round trip overlaps the send's work up to its first SQL statement,
        # where `admit` reads the answer: a send over the limit writes nothing, and is a 429
        # whatever else it would have been (but a replay, which answers even at the limit).
        pending = self.limiter.ask(tenant.public_id, limit=tenant.effective_rate_limit)

        def admit() -> None:
            permit = pending.result()
            if not permit.accepted:
                raise _rate_limited(permit)

        def send() -> idempotency.Answer:
            data = read_body()
            valid = SendMessageSerializer.plain_text(data) or validated(SendMessageSerializer, data)
            return self._send(tenant, valid, claim, admit)

        try:
            answer = send() if claim is None else idempotency.send_once(claim, send)
        except Exception as error:
            permit = pending.result()
            if not permit.accepted:
                if isinstance(error, RateLimited):
                    raise
                # A replay answers even at the limit (and does not count against it).
                stored = idempotency.find_answer(claim.key, claim.request_hash) if claim else None
                if stored is not None:
                    return stored, _replayed(stored)
                raise _rate_limited(permit) from error
            # Nothing was created: the request gives its place in the window back.
            self.limiter.give_back(permit)
            if isinstance(error, EngiumError):
                error.headers.update(permit.headers())
            raise
        permit = pending.result()
        if answer.replayed:  # the key's first request sent it: a replay does not count
            self.limiter.give_back(permit)
            return answer, _replayed(answer)
        return answer, permit.headers()

    def _send(
        self,
        tenant: Tenant,
        data: dict[str, Any],
        claim: idempotency.Claim | None,
        admit: Callable[[], None],
    ) -> idempotency.Answer:
        content = data["message"]
        message = services.send_message(
            recipient=data["recipient"],
            channel=data["channel"],
            content=services.MessageContent(
                text=content.get("text", ""),
                media_url=content.get("media_url", ""),
                media_type=content.get("media_type", ""),
                template=content.get("template"),
            ),
            agent_role_id=str(data["agent_role_id"]) if data.get("agent_role_id") else None,
            default_language=tenant.default_language,
            claim=claim,
            before_sql=admit,
        )
        # With a key, the statement stored the answer: it is this send's answer too.
        stored = claim.answer if claim is not None else None
        body = stored if stored is not None else render_send_result(message)
        return idempotency.Answer(status=status.HTTP_201_CREATED, body=body)


def _rate_limited(permit: Permit) -> RateLimited:
    return RateLimited(
        f"The limit of {permit.limit} messages per minute is reached; retry in "
        f"{permit.reset_seconds} s.",
        headers={**permit.headers(), "Retry-After": str(permit.reset_seconds)},
    )


class ConversationListView(EngiumAPIView):
    @extend_schema(
        operation_id="conversations_list",
        summary="List conversations",
        description="Conversations, newest first, without their messages; cursor-paginated.",
        parameters=[ConversationListQuery],
        responses={
            200: ConversationPageSerializer,
            **error_responses(400, *AUTH_ERRORS, e400=_LIST_400),
        },
    )
    def get(self, request: Request) -> Response:
        query = self.parse_query(ConversationListQuery)
        page = paginate(
            selectors.filter_conversations(query),
            query,
            lambda rows: [render_conversation(row) for row in rows],
        )
        return Response(page)


class ConversationDetailView(EngiumAPIView):
    @extend_schema(
        operation_id="conversations_retrieve",
        summary="A conversation with its latest 100 messages",
        description="The conversation and its latest 100 messages (oldest first), with history.",
        parameters=[CONVERSATION_ID],
        responses={200: ConversationDetailSerializer, **error_responses(*AUTH_ERRORS, 404)},
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        conversation, messages = selectors.get_conversation(conversation_id)
        return Response(render_conversation(conversation, messages=messages))


class CloseConversationView(EngiumAPIView):
    @extend_schema(
        operation_id="conversations_close",
        summary="Close a conversation",
        description=(
            "Close an open conversation; closing a closed one changes nothing. The next send "
            "to the recipient on the channel opens a new conversation. Takes no body."
        ),
        request=None,
        parameters=[CONVERSATION_ID],
        responses={
            200: OpenApiResponse(ConversationSerializer, description="The closed conversation."),
            **error_responses(*AUTH_ERRORS, 404, 413, 415),
        },
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        conversation = services.close_conversation(conversation_id)
        return Response(render_conversation(conversation))


class ResumeAgentView(EngiumAPIView):
    @extend_schema(
        operation_id="conversations_resume_agent",
        summary="Hand a conversation back to its agent",
        description=(
            "A conversation an agent handed to a person (`pending_human`, after a hand-off "
            "keyword) becomes `active` again: its agent role answers the next inbound "
            "message. Messages that arrived meanwhile stay for the person. Takes no body."
        ),
        request=None,
        parameters=[CONVERSATION_ID],
        responses={
            200: OpenApiResponse(ConversationSerializer, description="The active conversation."),
            **error_responses(
                *AUTH_ERRORS,
                404,
                409,
                413,
                415,
                e409=(
                    "The conversation is not handed off to a person: it is `active` or "
                    "`closed` (`conversation_not_pending_human`)."
                ),
            ),
        },
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        conversation = services.resume_agent(conversation_id)
        return Response(render_conversation(conversation))


class MessageListView(EngiumAPIView):
    @extend_schema(
        operation_id="messages_list",
        summary="List messages",
        description="Messages of every conversation, newest first, with their status history.",
        parameters=[MessageListQuery],
        responses={
            200: MessagePageSerializer,
            **error_responses(400, *AUTH_ERRORS, e400=_LIST_400),
        },
    )
    def get(self, request: Request) -> Response:
        query = self.parse_query(MessageListQuery)
        page = paginate(
            selectors.filter_messages(query),
            query,
            lambda rows: [render_message(row) for row in rows],
        )
        return Response(page)


class MessageDetailView(EngiumAPIView):
    @extend_schema(
        operation_id="messages_retrieve",
        summary="A message with its status history",
        description="The message and every status it went through, oldest first.",
        parameters=[MESSAGE_ID],
        responses={200: MessageSerializer, **error_responses(*AUTH_ERRORS, 404)},
    )
    def get(self, request: Request, message_id: str, **kwargs: Any) -> Response:
        return Response(render_message(selectors.get_message(message_id)))


class SandboxInboundView(EngiumAPIView):
    @extend_schema(
        operation_id="integrations_sandbox_inbound",
        summary="Simulate a recipient writing in",
        description=(
            "Store a message as if the number in `from` had written to this sandbox "
            "integration's channel, as a real provider's callback would."
        ),
        request=SandboxInboundSerializer,
        parameters=[INTEGRATION_ID],
        responses={
            201: OpenApiResponse(MessageSerializer, description="The inbound message."),
            **error_responses(
                *BODY_ERRORS,
                404,
                e400=(
                    f"A field is not valid (`validation_error`), {MALFORMED_BODY}, or `from` "
                    "is not a phone number (`invalid_recipient`)."
                ),
                e404="No such integration, or it is not a sandbox one (`not_found`).",
            ),
        },
    )
    def post(self, request: Request, integration_id: str) -> Response:
        integration = integration_selectors.get_integration(integration_id)
        if integration.provider != "sandbox":
            raise NotFound("Only sandbox integrations simulate inbound messages.")
        payload = self.parse_body(SandboxInboundSerializer)
        messages = services.receive_callback(integration, payload)
        return Response(render_message(messages[0]), status=status.HTTP_201_CREATED)
