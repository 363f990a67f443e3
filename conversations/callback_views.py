"""Provider callbacks: ``/callbacks/{tenant ID}/{integration ID}/{kind}``, outside the API.

Providers send no API key: the tenant comes from the URL, and the request is trusted only
once its provider's signature checks out (`Provider.verify_signature`, called for every
request, ``GET`` included). Then the callback is stored and answered at once; a worker
applies it (`conversations.services.process_callback`).

An unknown tenant, an unknown integration, an integration of another provider and a kind
the provider does not post all answer the same ``404`` (one shape, no lookups told apart);
a bad or missing signature on a real integration answers ``403``. Telling 403 from 404
needs the integration's ID, 80 random bits, so it reveals nothing guessable.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from conversations.services import accept_callback
from engium.api.errors import error_response
from engium.exceptions import InvalidSignature, NotFound
from engium.ids import is_valid_id
from engium.tenancy import use_public_schema, use_tenant
from integrations.models import Integration
from integrations.providers.base import CallbackRequest, Provider
from integrations.providers.registry import UnknownProvider, get_provider
from tenants.models import Tenant

NOT_FOUND = "No such callback URL."


def _not_found() -> HttpResponse:
    return error_response(NotFound(NOT_FOUND))


def _callback_request(request: HttpRequest) -> CallbackRequest:
    body = request.body
    if request.method == "POST" and "x-www-form-urlencoded" in (request.content_type or ""):
        params = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    else:
        params = {key: request.GET.getlist(key) for key in request.GET}
    return CallbackRequest(
        method=request.method or "",
        # The URL the provider was given (and signed): our public URL, not the Host header.
        url=settings.ENGIUM_PUBLIC_URL.rstrip("/") + request.get_full_path(),
        headers=dict(request.headers.items()),
        body=body,
        params=params,
    )


def _resolve(tenant_id: str, integration_id: str, kind: str) -> tuple[Integration, Provider] | None:
    if not (is_valid_id(tenant_id, "ten") and is_valid_id(integration_id, "intg")):
        return None
    tenant = Tenant.objects.filter(public_id=tenant_id).first()
    if tenant is None:
        return None
    use_tenant(tenant)
    integration = Integration.objects.filter(pk=integration_id).first()
    if integration is None:
        return None
    try:
        provider = get_provider(integration.provider)
    except UnknownProvider:
        return None
    if kind not in provider.callback_kinds:
        return None
    return integration, provider


@csrf_exempt
def provider_callback(
    request: HttpRequest, tenant_id: str, integration_id: str, kind: str
) -> HttpResponse:
    if request.method not in {"GET", "POST"}:
        return _not_found()
    try:
        resolved = _resolve(tenant_id, integration_id, kind)
        if resolved is None:
            return _not_found()
        integration, provider = resolved
        callback = _callback_request(request)
        if not provider.verify_signature(integration.config, callback):
            return error_response(InvalidSignature())
        if request.method == "GET":  # a subscription check (Meta's hub.challenge)
            answer = provider.answer_verification(integration.config, callback.params)
            if answer is None:
                return error_response(InvalidSignature())
        else:
            accept_callback(
                integration, kind=kind, request=callback, content_type=request.content_type or ""
            )
            answer = provider.answer_callback(kind)
        return HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    finally:
        use_public_schema()
