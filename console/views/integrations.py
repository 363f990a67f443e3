"""Settings → Integrations: connect channels to providers, test, enable, make default."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from console.access import Permission, console_view
from console.forms import PROVIDER_FORMS, PROVIDER_LABELS, NewIntegrationChoiceForm
from console.views.common import form_error, page
from engium.exceptions import NotFound, ValidationFailed
from integrations import selectors, services
from integrations.models import Channel, Integration, IntegrationStatus
from integrations.providers.registry import UnknownProvider, get_provider

SETTINGS = Permission.MANAGE_SETTINGS


def _integration(integration_id: str) -> Integration:
    try:
        return selectors.get_integration(integration_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _shown_config(integration: Integration) -> tuple[dict[str, object], list[str]]:
    """The config without secrets, and the names of the secrets that are set."""
    try:
        provider = get_provider(integration.provider)
    except UnknownProvider:
        return {}, sorted(integration.config)
    public = provider.public_config(integration.config)
    return public, sorted(k for k in integration.config if k in provider.secret_fields)


@console_view()
def integration_list(request: HttpRequest) -> HttpResponse:
    rows = list(Integration.objects.order_by("channel", "-is_default", "id"))
    return page(
        request,
        "console/integrations/list.html",
        {
            "section": "integrations",
            "integrations": rows,
            "choice_form": NewIntegrationChoiceForm(),
            "provider_labels": PROVIDER_LABELS,
        },
    )


@console_view(read=SETTINGS)
def integration_new(request: HttpRequest) -> HttpResponse:
    """``?channel=…&provider=…`` picks the form; POST connects the integration."""
    source = request.POST if request.method == "POST" else request.GET
    channel, provider = source.get("channel", ""), source.get("provider", "")
    form_class = PROVIDER_FORMS.get(provider)
    if channel not in Channel.values or form_class is None:
        messages.error(request, "Choose a channel and a provider.")
        return redirect("console:integrations")
    if channel not in get_provider(provider).channels:
        messages.error(request, f"{PROVIDER_LABELS[provider]} does not serve {channel}.")
        return redirect("console:integrations")
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            integration = services.connect_integration(
                channel=channel,
                provider=provider,
                config=form.config(),
                name=form.cleaned_data["name"],
            )
        except ValidationFailed as exc:
            form_error(form, exc)
        else:
            messages.success(request, "Integration connected. Paste its callback URLs below.")
            return redirect("console:integration", integration_id=integration.id)
    return page(
        request,
        "console/integrations/new.html",
        {
            "section": "integrations",
            "form": form,
            "channel": channel,
            "channel_label": Channel(channel).label,
            "provider": provider,
            "provider_label": PROVIDER_LABELS[provider],
        },
        status=400 if request.method == "POST" else 200,
    )


@console_view(write=SETTINGS)
def integration_detail(request: HttpRequest, integration_id: str) -> HttpResponse:
    """The integration; POST replaces its name and config (secrets left empty are kept)."""
    integration = _integration(integration_id)
    form_class = PROVIDER_FORMS.get(integration.provider)
    form = None
    if form_class is not None:
        public, _ = _shown_config(integration)
        initial = {"name": integration.name, **public}
        form = form_class(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            services.update_integration(
                integration.id, name=form.cleaned_data["name"], config=form.config()
            )
        except ValidationFailed as exc:
            form_error(form, exc)
        else:
            messages.success(request, "Saved. Test the connection to check the new settings.")
            return redirect("console:integration", integration_id=integration.id)
    public, secrets = _shown_config(integration)
    return page(
        request,
        "console/integrations/detail.html",
        {
            "section": "integrations",
            "integration": integration,
            "public_config": public,
            "secrets": secrets,
            "callback_urls": selectors.callback_urls(integration),
            "form": form,
            "provider_label": PROVIDER_LABELS.get(integration.provider, integration.provider),
        },
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@console_view(write=SETTINGS)
def integration_action(request: HttpRequest, integration_id: str, action: str) -> HttpResponse:
    """``test``, ``enable``, ``disable``, ``make-default`` or ``remove``."""
    integration = _integration(integration_id)
    if action == "test":
        tested = services.verify_integration(integration.id)
        level = messages.SUCCESS if tested.verification == "verified" else messages.ERROR
        detail = tested.verification_detail or ""
        messages.add_message(request, level, f"Connection test: {tested.verification}. {detail}")
    elif action in ("enable", "disable"):
        status = IntegrationStatus.ACTIVE if action == "enable" else IntegrationStatus.DISABLED
        services.update_integration(integration.id, status=status)
        messages.success(request, f"Integration {status.label.lower()}.")
    elif action == "make-default":
        services.update_integration(integration.id, is_default=True)
        messages.success(request, f"Now the default for {integration.get_channel_display()}.")
    elif action == "remove":
        services.remove_integration(integration.id)
        messages.success(request, "Integration removed.")
        return redirect("console:integrations")
    else:
        raise Http404("No such action.")
    return redirect("console:integration", integration_id=integration.id)
