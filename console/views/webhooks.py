"""Settings → Webhooks: endpoints, their secrets, test events and the delivery log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from console.access import Permission, console_view
from console.forms import DeliveryFilterForm, EndpointForm, ReplayFailedForm
from console.views.common import form_error, page, paginate
from engium.exceptions import NotFound, ValidationFailed
from webhooks import selectors, services
from webhooks.models import ALL_EVENTS, Endpoint

SETTINGS = Permission.MANAGE_SETTINGS
RESPONSE_SNIPPET = 300


def _endpoint(endpoint_id: str) -> Endpoint:
    try:
        return selectors.get_endpoint(endpoint_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@console_view(write=SETTINGS)
def endpoint_list(request: HttpRequest) -> HttpResponse:
    """The endpoints; POST adds one."""
    form = EndpointForm(request.POST or None, initial={"events": [ALL_EVENTS]})
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = services.create_endpoint(
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
                description=form.cleaned_data["description"],
            )
        except ValidationFailed as exc:
            form_error(form, exc)
        else:
            messages.success(request, "Endpoint added. Its signing secret is on this page.")
            return redirect("console:webhook", endpoint_id=endpoint.id)
    return page(
        request,
        "console/webhooks/list.html",
        {"section": "webhooks", "endpoints": Endpoint.objects.all(), "form": form},
        status=400 if request.method == "POST" else 200,
    )


@console_view(write=SETTINGS)
def endpoint_detail(request: HttpRequest, endpoint_id: str) -> HttpResponse:
    """An endpoint and its delivery log; POST changes its URL, description and events."""
    endpoint = _endpoint(endpoint_id)
    initial = {"url": endpoint.url, "description": endpoint.description, "events": endpoint.events}
    form = EndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_endpoint(endpoint.id, **form.cleaned_data)
        except ValidationFailed as exc:
            form_error(form, exc)
        else:
            messages.success(request, "Endpoint saved.")
            return redirect("console:webhook", endpoint_id=endpoint.id)
    return page(
        request,
        "console/webhooks/detail.html",
        {**_detail_context(request, endpoint), "form": form},
        status=400 if request.method == "POST" else 200,
    )


def _detail_context(request: HttpRequest, endpoint: Endpoint) -> dict[str, Any]:
    filters = DeliveryFilterForm(request.GET or None)
    wanted = filters.cleaned_data if filters.is_valid() else {}
    rows = selectors.filter_deliveries(endpoint.id, status=wanted.get("status") or None)
    if wanted.get("event_type"):
        rows = rows.filter(event__type=wanted["event_type"])
    return {
        "section": "webhooks",
        "endpoint": endpoint,
        "filters": filters,
        "page_obj": paginate(request, rows),
        "replay_form": ReplayFailedForm(),
        "snippet": RESPONSE_SNIPPET,
        "secret": None,
    }


@require_POST
@console_view(write=SETTINGS)
def endpoint_action(request: HttpRequest, endpoint_id: str, action: str) -> HttpResponse:
    """``reveal``, ``rotate``, ``test``, ``enable``, ``disable``, ``replay-failed``, ``delete``."""
    endpoint = _endpoint(endpoint_id)
    if action == "reveal":
        # Shown in this answer only (not stored in a message or the URL), and never cached.
        context = _detail_context(request, endpoint)
        context["secret"] = endpoint.secrets["current"]
        context["form"] = EndpointForm(
            initial={
                "url": endpoint.url,
                "description": endpoint.description,
                "events": endpoint.events,
            }
        )
        return page(request, "console/webhooks/detail.html", context)
    if action == "rotate":
        services.rotate_endpoint_secret(endpoint.id)
        messages.success(request, "New secret made; the old one keeps signing for 24 hours.")
    elif action == "test":
        delivery = services.send_test_event(endpoint.id)
        messages.success(request, f"Test event {delivery.event_id} sent; it appears below.")
    elif action == "enable":
        services.update_endpoint(endpoint.id, enabled=True)
        messages.success(request, "Endpoint enabled; parked deliveries resume.")
    elif action == "disable":
        services.update_endpoint(
            endpoint.id, enabled=False, disabled_reason="Disabled in the console."
        )
        messages.success(request, "Endpoint disabled; new events wait until it is enabled.")
    elif action == "replay-failed":
        form = ReplayFailedForm(request.POST)
        days = int(form.cleaned_data["days"]) if form.is_valid() else 1
        until = timezone.now()
        count = services.replay_failed_deliveries(
            endpoint.id, since=until - timedelta(days=days), until=until + timedelta(seconds=1)
        )
        messages.success(request, f"Replaying {count} failed deliveries.")
    elif action == "delete":
        services.delete_endpoint(endpoint.id)
        messages.success(request, "Endpoint deleted.")
        return redirect("console:webhooks")
    else:
        raise Http404("No such action.")
    return redirect("console:webhook", endpoint_id=endpoint.id)


@require_POST
@console_view(write=SETTINGS)
def replay_delivery(request: HttpRequest, endpoint_id: str, event_id: str) -> HttpResponse:
    try:
        services.replay_delivery(endpoint_id, event_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    messages.success(request, f"Replaying {event_id}.")
    return redirect("console:webhook", endpoint_id=endpoint_id)
