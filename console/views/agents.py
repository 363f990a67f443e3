"""Agent roles: list, create, change, delete, make default, through `agents.services`.

A role's fields are checked by the agent role API's serializers (`agents.serializers`), so
the console accepts exactly what the API accepts; their errors are shown field by field.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from agents import services
from agents.models import AgentRole
from agents.serializers import AgentRoleCreateSerializer, AgentRoleUpdateSerializer
from console.access import Permission, console, console_view
from console.forms import AgentRoleForm
from console.views.common import page
from engium.exceptions import NotFound

CONTENT = Permission.MANAGE_CONTENT


def _role(role_id: uuid.UUID) -> AgentRole:
    try:
        return services.get_agent_role(role_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _validated(form: AgentRoleForm, serializer_class: type[Any]) -> dict[str, Any] | None:
    """The form's role checked by the API's serializer, or None (its errors on the form)."""
    if not form.is_valid():
        return None
    serializer = serializer_class(data=form.payload())
    if not serializer.is_valid():
        form.add_serializer_errors(serializer.errors)
        return None
    data: dict[str, Any] = dict(serializer.validated_data)
    data.pop("is_default", None)
    return data


@console_view(write=CONTENT)
def role_list(request: HttpRequest) -> HttpResponse:
    """The agent roles; POST creates one."""
    tenant = console(request).tenant
    form = AgentRoleForm(request.POST or None, initial={"language": tenant.default_language})
    if request.method == "POST":
        data = _validated(form, AgentRoleCreateSerializer)
        if data is not None:
            make_default = not AgentRole.objects.exists()
            role = services.create_agent_role(**data, is_default=make_default)
            messages.success(
                request,
                f"Agent role {role.name} created"
                + (" (the default: it is the only one)." if make_default else "."),
            )
            return redirect("console:agent_role", role_id=role.id)
    creating = request.method == "POST" or request.GET.get("new") == "1"
    return page(
        request,
        "console/agents/list.html",
        {
            "section": "agents",
            "roles": AgentRole.objects.order_by("-is_default", "name"),
            "form": form,
            "creating": creating,
        },
        status=400 if request.method == "POST" else 200,
    )


@console_view(write=CONTENT)
def role_detail(request: HttpRequest, role_id: uuid.UUID) -> HttpResponse:
    """An agent role's form; POST saves it."""
    role = _role(role_id)
    initial = {
        "name": role.name,
        "instructions": role.instructions,
        "language": role.language,
        "greeting": role.greeting,
        "handoff_keywords": "\n".join(role.handoff_keywords or []),
    }
    form = AgentRoleForm(request.POST or None, initial=initial, knowledge=role.knowledge or [])
    if request.method == "POST":
        data = _validated(form, AgentRoleUpdateSerializer)
        if data is not None:
            try:
                services.update_agent_role(role.id, **data)
            except NotFound as exc:
                raise Http404(exc.message) from exc
            messages.success(request, f"Agent role {data['name']} saved.")
            return redirect("console:agent_role", role_id=role.id)
    return page(
        request,
        "console/agents/detail.html",
        {"section": "agents", "role": role, "form": form},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@console_view(write=CONTENT)
def role_make_default(request: HttpRequest, role_id: uuid.UUID) -> HttpResponse:
    role = _role(role_id)
    try:
        services.update_agent_role(role.id, is_default=True)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    messages.success(request, f"{role.name} is now the default agent role.")
    return redirect("console:agent_roles")


@require_POST
@console_view(write=CONTENT)
def role_delete(request: HttpRequest, role_id: uuid.UUID) -> HttpResponse:
    role = _role(role_id)
    try:
        services.delete_agent_role(role.id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    messages.success(request, f"Agent role {role.name} deleted.")
    return redirect("console:agent_roles")
