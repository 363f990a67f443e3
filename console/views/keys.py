"""API keys: create (the key is shown once), list, revoke."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from console.access import Permission, console, console_view
from console.forms import ApiKeyForm
from console.views.common import page
from engium.exceptions import NotFound
from tenants import selectors, services

KEYS = Permission.MANAGE_KEYS


@console_view(write=KEYS)
def key_list(request: HttpRequest) -> HttpResponse:
    """The keys; POST creates one and answers with the key, shown this once."""
    tenant = console(request).tenant
    form = ApiKeyForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        issued = services.create_api_key(tenant, name=form.cleaned_data["name"])
        form = ApiKeyForm()
    return page(
        request,
        "console/keys/list.html",
        {
            "section": "keys",
            "keys": selectors.filter_api_keys(tenant).order_by("revoked_at", "-created_at"),
            "form": form,
            "issued": issued,
        },
        status=400 if request.method == "POST" and issued is None else 200,
    )


@require_POST
@console_view(write=KEYS)
def key_revoke(request: HttpRequest, key_id: str) -> HttpResponse:
    tenant = console(request).tenant
    try:
        api_key = selectors.get_api_key(tenant, key_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    services.revoke_api_key(api_key)
    messages.success(request, f"Key {api_key.prefix}… revoked: it no longer authenticates.")
    return redirect("console:keys")
