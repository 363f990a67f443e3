"""The API's resources for the sync client ``Engium``.

``_async_resources.py`` is generated from this file (``python scripts/generate_async.py`` in
``clients/python``): every method becomes ``async`` and awaits, list methods return an
``AsyncPager``. A test fails when the generated file is stale.
"""

from __future__ import annotations

import mimetypes
import os
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from ._pagination import Page, Pager, page_parser
from ._transport import Call, clean_params
from .models import (
    AgentRole,
    ApiKey,
    Conversation,
    ConversationDetail,
    Integration,
    Media,
    Message,
    NewApiKey,
    SendResult,
    Template,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEndpointCreated,
    WebhookReplayed,
    WebhookSecret,
)

if TYPE_CHECKING:
    from ._client import Engium

FileInput = str | os.PathLike[str] | bytes | IO[bytes]


def _model(cls: Any) -> Any:
    return lambda body, _headers: cls.from_dict(body)


def _send_result(body: Any, headers: Mapping[str, str]) -> SendResult:
    result = SendResult.from_dict(body)
    if headers.get("idempotent-replayed") == "true":
        return SendResult.from_dict({**body, "replayed": True})
    return result


def _body(**fields: Any) -> dict[str, Any]:
    """A JSON body of the given fields, without the ones left unset (None)."""
    return {key: value for key, value in fields.items() if value is not None}


def _file_part(file: FileInput, filename: str | None) -> tuple[str, Any, str]:
    if isinstance(file, bytes):
        content: Any = file
        name = filename or "upload"
    elif isinstance(file, str | os.PathLike):
        with open(file, "rb") as handle:
            content = handle.read()
        name = filename or os.path.basename(os.fspath(file))
    else:
        content = file.read()
        name = filename or os.path.basename(str(getattr(file, "name", "upload")))
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return (name, content, guessed)


class _Resource:
    def __init__(self, client: Engium) -> None:
        self._client = client

    def _pager(self, call: Call[Any], limit: int | None, cursor: str | None) -> Pager[Any]:
        def fetch(page_cursor: str | None) -> Page[Any]:
            params = {**(call.params or {}), "limit": limit, "cursor": page_cursor}
            return self._client._execute(
                Call(call.method, call.path, params=clean_params(params), parse=call.parse)
            )

        return Pager(fetch, cursor)


class Conversations(_Resource):
    def send(
        self,
        *,
        recipient: str,
        channel: str,
        text: str | None = None,
        media_url: str | None = None,
        media_type: str | None = None,
        template_id: str | None = None,
        language: str | None = None,
        variables: Mapping[str, str] | None = None,
        agent_role_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> SendResult:
        """Send a message: text, media (``media_url`` + ``media_type``, ``text`` as caption) or a
        template (``template_id`` with ``language`` and ``variables``).

        Always with an ``Idempotency-Key`` (``idempotency_key``, else a generated uuid4), kept
        across the automatic retries: a retried send never sends twice.
        """
        if template_id is not None:
            template = _body(id=template_id, language=language, variables=variables)
            message: dict[str, Any] = {"template": template}
        else:
            message = _body(text=text, media_url=media_url, media_type=media_type)
        key = idempotency_key or str(uuid.uuid4())
        return self._client._execute(
            Call(
                "POST",
                "conversations/send",
                json=_body(
                    recipient=recipient,
                    channel=channel,
                    message=message,
                    agent_role_id=agent_role_id,
                ),
                headers={"Idempotency-Key": key},
                parse=_send_result,
                idempotent=True,
            )
        )

    def list(
        self,
        *,
        status: str | None = None,
        channel: str | None = None,
        recipient: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Pager[Conversation]:
        """Every conversation (newest first), fetched page by page as the iteration goes."""
        params = clean_params(
            {
                "status": status,
                "channel": channel,
                "recipient": recipient,
                "created_after": created_after,
                "created_before": created_before,
            }
        )
        call: Call[Any] = Call(
            "GET", "conversations", params=params, parse=page_parser(Conversation.from_dict)
        )
        return self._pager(call, limit, cursor)

    def retrieve(self, conversation_id: str) -> ConversationDetail:
        return self._client._execute(
            Call("GET", f"conversations/{conversation_id}", parse=_model(ConversationDetail))
        )

    def close(self, conversation_id: str) -> Conversation:
        return self._client._execute(
            Call("POST", f"conversations/{conversation_id}/close", parse=_model(Conversation))
        )

    def resume_agent(self, conversation_id: str) -> Conversation:
        return self._client._execute(
            Call(
                "POST", f"conversations/{conversation_id}/resume-agent", parse=_model(Conversation)
            )
        )


class Messages(_Resource):
    def list(
        self,
        *,
        conversation_id: str | None = None,
        direction: str | None = None,
        status: str | None = None,
        channel: str | None = None,
        recipient: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Pager[Message]:
        params = clean_params(
            {
                "conversation_id": conversation_id,
                "direction": direction,
                "status": status,
                "channel": channel,
                "recipient": recipient,
                "created_after": created_after,
                "created_before": created_before,
            }
        )
        call: Call[Any] = Call(
            "GET", "messages", params=params, parse=page_parser(Message.from_dict)
        )
        return self._pager(call, limit, cursor)

    def retrieve(self, message_id: str) -> Message:
        return self._client._execute(Call("GET", f"messages/{message_id}", parse=_model(Message)))


class Integrations(_Resource):
    def create(
        self,
        *,
        channel: str,
        provider: str,
        config: Mapping[str, Any] | None = None,
        name: str | None = None,
        is_default: bool | None = None,
    ) -> Integration:
        body = _body(
            channel=channel,
            provider=provider,
            config=dict(config) if config is not None else None,
            name=name,
            is_default=is_default,
        )
        return self._client._execute(
            Call("POST", "integrations", json=body, parse=_model(Integration), idempotent=False)
        )

    def list(
        self,
        *,
        channel: str | None = None,
        status: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Pager[Integration]:
        params = clean_params(
            {
                "channel": channel,
                "status": status,
                "created_after": created_after,
                "created_before": created_before,
            }
        )
        call: Call[Any] = Call(
            "GET", "integrations", params=params, parse=page_parser(Integration.from_dict)
        )
        return self._pager(call, limit, cursor)

    def retrieve(self, integration_id: str) -> Integration:
        return self._client._execute(
            Call("GET", f"integrations/{integration_id}", parse=_model(Integration))
        )

    def update(
        self,
        integration_id: str,
        *,
        config: Mapping[str, Any] | None = None,
        name: str | None = None,
        status: str | None = None,
        is_default: bool | None = None,
    ) -> Integration:
        body = _body(
            config=dict(config) if config is not None else None,
            name=name,
            status=status,
            is_default=is_default,
        )
        return self._client._execute(
            Call("PATCH", f"integrations/{integration_id}", json=body, parse=_model(Integration))
        )

    def delete(self, integration_id: str) -> None:
        self._client._execute(Call("DELETE", f"integrations/{integration_id}"))

    def test(self, integration_id: str) -> Integration:
        """Check the credentials with the provider; the answer carries the verdict."""
        return self._client._execute(
            Call("POST", f"integrations/{integration_id}/test", parse=_model(Integration))
        )

    def sandbox_inbound(self, integration_id: str, *, from_: str, text: str) -> Message:
        """Simulate a customer writing in (sandbox integrations only)."""
        return self._client._execute(
            Call(
                "POST",
                f"integrations/{integration_id}/sandbox/inbound",
                json={"from": from_, "text": text},
                parse=_model(Message),
                idempotent=False,
            )
        )


class WebhookDeliveries(_Resource):
    def list(
        self,
        endpoint_id: str,
        *,
        status: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Pager[WebhookDelivery]:
        params = clean_params(
            {"status": status, "created_after": created_after, "created_before": created_before}
        )
        call: Call[Any] = Call(
            "GET",
            f"webhooks/{endpoint_id}/deliveries",
            params=params,
            parse=page_parser(WebhookDelivery.from_dict),
        )
        return self._pager(call, limit, cursor)

    def retrieve(self, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        return self._client._execute(
            Call(
                "GET",
                f"webhooks/{endpoint_id}/deliveries/{delivery_id}",
                parse=_model(WebhookDelivery),
            )
        )

    def replay(self, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        """Make one delivery due again now."""
        return self._client._execute(
            Call(
                "POST",
                f"webhooks/{endpoint_id}/deliveries/{delivery_id}/replay",
                parse=_model(WebhookDelivery),
            )
        )


class Webhooks(_Resource):
    def __init__(self, client: Engium) -> None:
        super().__init__(client)
        self.deliveries = WebhookDeliveries(client)

    def create(
        self,
        *,
        url: str,
        events: Sequence[str],
        description: str | None = None,
        enabled: bool | None = None,
    ) -> WebhookEndpointCreated:
        body = _body(url=url, events=list(events), description=description, enabled=enabled)
        return self._client._execute(
            Call(
                "POST",
                "webhooks",
                json=body,
                parse=_model(WebhookEndpointCreated),
                idempotent=False,
            )
        )

    def list(
        self,
        *,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Pager[WebhookEndpoint]:
        params = clean_params({"created_after": created_after, "created_before": created_before})
        call: Call[Any] = Call(
            "GET", "webhooks", params=params, parse=page_parser(WebhookEndpoint.from_dict)
        )
        return self._pager(call, limit, cursor)

    def retrieve(self, endpoint_id: str) -> WebhookEndpoint:
        return self._client._execute(
            Call("GET", f"webhooks/{endpoint_id}", parse=_model(WebhookEndpoint))
        )

    def update(
        self,
        endpoint_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> WebhookEndpoint:
        body = _body(
            url=url,
            events=list(events) if events is not None else None,
            description=description,
            enabled=enabled,
        )
        return self._client._execute(
            Call("PATCH", f"webhooks/{endpoint_id}", json=body, parse=_model(WebhookEndpoint))
        )

    def delete(self, endpoint_id: str) -> None:
        self._client._execute(Call("DELETE", f"webhooks/{endpoint_id}"))

    def secret(self, endpoint_id: str) -> WebhookSecret:
        return self._client._execute(
            Call("GET", f"webhooks/{endpoint_id}/secret", parse=_model(WebhookSecret))
        )

    def rotate_secret(self, endpoint_id: str) -> WebhookSecret:
        """A new secret; the previous one keeps signing beside it for 24 hours."""
        return self._client._execute(
            Call(
                "POST",
                f"webhooks/{endpoint_id}/rotate-secret",
                parse=_model(WebhookSecret),
                idempotent=False,
            )
        )

    def test(self, endpoint_id: str) -> WebhookDelivery:
        """Send a ``webhook.test`` event to the endpoint."""
        return self._client._execute(
            Call(
                "POST",
                f"webhooks/{endpoint_id}/test",
                parse=_model(WebhookDelivery),
                idempotent=False,
            )
        )

    def replay(
        self, endpoint_id: str, *, since: datetime | str, until: datetime | str
    ) -> WebhookReplayed:
        """Make every failed delivery of events created in [since, until) due again now."""
        body = clean_params({"since": since, "until": until})
        return self._client._execute(
            Call("POST", f"webhooks/{endpoint_id}/replay", json=body, parse=_model(WebhookReplayed))
        )


class ApiKeys(_Resource):
    def create(self, *, name: str) -> NewApiKey:
        """A new key; its ``key`` is in this answer only."""
        return self._client._execute(
            Call("POST", "api-keys", json={"name": name}, parse=_model(NewApiKey), idempotent=False)
        )

    def list(
        self,
        *,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Pager[ApiKey]:
        params = clean_params({"created_after": created_after, "created_before": created_before})
        call: Call[Any] = Call(
            "GET", "api-keys", params=params, parse=page_parser(ApiKey.from_dict)
        )
        return self._pager(call, limit, cursor)

    def retrieve(self, key_id: str) -> ApiKey:
        return self._client._execute(Call("GET", f"api-keys/{key_id}", parse=_model(ApiKey)))

    def revoke(self, key_id: str) -> ApiKey:
        return self._client._execute(
            Call("POST", f"api-keys/{key_id}/revoke", parse=_model(ApiKey))
        )


class Templates(_Resource):
    def create(
        self,
        *,
        name: str,
        category: str,
        bodies: Mapping[str, str],
        examples: Mapping[str, str] | None = None,
    ) -> Template:
        body = _body(
            name=name,
            category=category,
            bodies=dict(bodies),
            examples=dict(examples) if examples is not None else None,
        )
        return self._client._execute(
            Call("POST", "templates", json=body, parse=_model(Template), idempotent=False)
        )

    def list(
        self,
        *,
        name: str | None = None,
        category: str | None = None,
        language: str | None = None,
        status: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Pager[Template]:
        params = clean_params(
            {
                "name": name,
                "category": category,
                "language": language,
                "status": status,
                "created_after": created_after,
                "created_before": created_before,
            }
        )
        call: Call[Any] = Call(
            "GET", "templates", params=params, parse=page_parser(Template.from_dict)
        )
        return self._pager(call, limit, cursor)

    def retrieve(self, template_id: str) -> Template:
        return self._client._execute(
            Call("GET", f"templates/{template_id}", parse=_model(Template))
        )

    def update(
        self,
        template_id: str,
        *,
        category: str | None = None,
        bodies: Mapping[str, str] | None = None,
        examples: Mapping[str, str] | None = None,
    ) -> Template:
        body = _body(
            category=category,
            bodies=dict(bodies) if bodies is not None else None,
            examples=dict(examples) if examples is not None else None,
        )
        return self._client._execute(
            Call("PATCH", f"templates/{template_id}", json=body, parse=_model(Template))
        )

    def delete(self, template_id: str) -> None:
        self._client._execute(Call("DELETE", f"templates/{template_id}"))


class AgentRoles(_Resource):
    def create(
        self,
        *,
        name: str,
        instructions: str,
        language: str | None = None,
        greeting: str | None = None,
        handoff_keywords: Sequence[str] | None = None,
        knowledge: Sequence[Mapping[str, str]] | None = None,
        is_default: bool | None = None,
    ) -> AgentRole:
        body = _body(
            name=name,
            instructions=instructions,
            language=language,
            greeting=greeting,
            handoff_keywords=list(handoff_keywords) if handoff_keywords is not None else None,
            knowledge=[dict(entry) for entry in knowledge] if knowledge is not None else None,
            is_default=is_default,
        )
        return self._client._execute(
            Call("POST", "agent-roles", json=body, parse=_model(AgentRole), idempotent=False)
        )

    def list(
        self,
        *,
        language: str | None = None,
        is_default: bool | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Pager[AgentRole]:
        params = clean_params(
            {
                "language": language,
                "is_default": is_default,
                "created_after": created_after,
                "created_before": created_before,
            }
        )
        call: Call[Any] = Call(
            "GET", "agent-roles", params=params, parse=page_parser(AgentRole.from_dict)
        )
        return self._pager(call, limit, cursor)

    def retrieve(self, role_id: str) -> AgentRole:
        return self._client._execute(Call("GET", f"agent-roles/{role_id}", parse=_model(AgentRole)))

    def update(
        self,
        role_id: str,
        *,
        name: str | None = None,
        instructions: str | None = None,
        language: str | None = None,
        greeting: str | None = None,
        handoff_keywords: Sequence[str] | None = None,
        knowledge: Sequence[Mapping[str, str]] | None = None,
        is_default: bool | None = None,
    ) -> AgentRole:
        body = _body(
            name=name,
            instructions=instructions,
            language=language,
            greeting=greeting,
            handoff_keywords=list(handoff_keywords) if handoff_keywords is not None else None,
            knowledge=[dict(entry) for entry in knowledge] if knowledge is not None else None,
            is_default=is_default,
        )
        return self._client._execute(
            Call("PATCH", f"agent-roles/{role_id}", json=body, parse=_model(AgentRole))
        )

    def delete(self, role_id: str) -> None:
        self._client._execute(Call("DELETE", f"agent-roles/{role_id}"))


class MediaFiles(_Resource):
    def upload(
        self,
        file: FileInput,
        *,
        filename: str | None = None,
        channel: str | None = None,
        media_type: str | None = None,
    ) -> Media:
        """Upload a file (a path, bytes or a binary file object); send it by ``media_url``."""
        return self._client._execute(
            Call(
                "POST",
                "media",
                files={"file": _file_part(file, filename)},
                data=_body(channel=channel, media_type=media_type),
                parse=_model(Media),
                idempotent=False,
            )
        )

    def list(
        self,
        *,
        media_type: str | None = None,
        origin: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Pager[Media]:
        params = clean_params(
            {
                "media_type": media_type,
                "origin": origin,
                "created_after": created_after,
                "created_before": created_before,
            }
        )
        call: Call[Any] = Call("GET", "media", params=params, parse=page_parser(Media.from_dict))
        return self._pager(call, limit, cursor)

    def retrieve(self, media_id: str) -> Media:
        return self._client._execute(Call("GET", f"media/{media_id}", parse=_model(Media)))

    def delete(self, media_id: str) -> None:
        self._client._execute(Call("DELETE", f"media/{media_id}"))
