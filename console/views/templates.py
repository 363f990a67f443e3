"""Message templates: list, create, change, delete, through `message_templates`' services.

The services check the bodies (variables, lengths, the same variables in every language)
and their errors are shown on the body they name.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from console.access import Permission, console_view
from console.forms import RTL_LANGUAGES, TemplateForm, body_field_name
from console.views.common import page
from engium.exceptions import NotFound, ValidationFailed
from message_templates import selectors, services
from message_templates.models import Template, TemplateBody
from message_templates.rendering import PLACEHOLDER
from tenants.models import Language

CONTENT = Permission.MANAGE_CONTENT


def _template(template_id: str) -> Template:
    try:
        return selectors.get_template(template_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc


def _languages(form: TemplateForm, template: Template | None) -> list[dict[str, Any]]:
    """One tab per language: its field, its stored body (status) and how to write it."""
    bodies: dict[str, TemplateBody] = (
        {body.language: body for body in template.bodies.all()} if template else {}
    )
    return [
        {
            "code": code,
            "label": label,
            "lang": code.replace("_", "-"),
            "dir": "rtl" if code in RTL_LANGUAGES else "auto",
            "field": form[body_field_name(code)],
            "body": bodies.get(code),
            "preview": _preview(form[body_field_name(code)].value() or ""),
            "variables": _variables(form[body_field_name(code)].value() or ""),
        }
        for code, label in Language.choices
    ]


def _preview(text: str) -> list[tuple[str, bool]]:
    """The text cut into (piece, is_variable), to show its variables highlighted."""
    pieces: list[tuple[str, bool]] = []
    position = 0
    for match in PLACEHOLDER.finditer(text):
        pieces.append((text[position : match.start()], False))
        pieces.append((match.group(0), True))
        position = match.end()
    pieces.append((text[position:], False))
    return [piece for piece in pieces if piece[0]]


def _variables(text: str) -> list[str]:
    """The names between {{ and }}, in order, once each (the service says which are bad)."""
    names: list[str] = []
    for match in PLACEHOLDER.finditer(text):
        if match.group(1) not in names:
            names.append(match.group(1))
    return names


@console_view(write=CONTENT)
def template_list(request: HttpRequest) -> HttpResponse:
    """The live templates; POST creates one."""
    form = TemplateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            template = services.create_template(
                name=form.cleaned_data["name"],
                category=form.cleaned_data["category"],
                bodies=form.bodies(),
            )
        except ValidationFailed as exc:
            form.add_service_error(exc)
        else:
            messages.success(request, f"Template {template.name} created.")
            return redirect("console:template", template_id=template.id)
    creating = request.method == "POST" or request.GET.get("new") == "1"
    return page(
        request,
        "console/templates/list.html",
        {
            "section": "templates",
            "templates": selectors.filter_templates({}),
            "form": form,
            "languages": _languages(form, None),
            "creating": creating,
        },
        status=400 if request.method == "POST" else 200,
    )


@console_view(write=CONTENT)
def template_detail(request: HttpRequest, template_id: str) -> HttpResponse:
    """A template's bodies and their review status; POST changes it."""
    template = _template(template_id)
    current = {body.language: body.text for body in template.bodies.all()}
    initial: dict[str, Any] = {"name": template.name, "category": template.category}
    initial.update({body_field_name(code): text for code, text in current.items()})
    form = TemplateForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        given = form.bodies()
        bodies: dict[str, str | None] = {code: None for code in current if code not in given}
        bodies.update(given)
        try:
            services.update_template(
                template.id, category=form.cleaned_data["category"], bodies=bodies
            )
        except ValidationFailed as exc:
            form.add_service_error(exc)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        else:
            messages.success(request, f"Template {template.name} saved.")
            return redirect("console:template", template_id=template.id)
    return page(
        request,
        "console/templates/detail.html",
        {
            "section": "templates",
            "template": template,
            "form": form,
            "languages": _languages(form, template),
        },
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@console_view(write=CONTENT)
def template_delete(request: HttpRequest, template_id: str) -> HttpResponse:
    template = _template(template_id)
    try:
        services.delete_template(template.id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    messages.success(request, f"Template {template.name} deleted: sends with it now fail.")
    return redirect("console:templates")
