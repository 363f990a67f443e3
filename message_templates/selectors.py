"""Reads for the templates API."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from engium.exceptions import NotFound
from message_templates.models import Template, TemplateBody


def _templates() -> QuerySet[Template]:
    return Template.objects.filter(deleted_at__isnull=True).prefetch_related(
        Prefetch("bodies", queryset=TemplateBody.objects.order_by("language"))
    )


def get_template(template_id: str) -> Template:
    """The current tenant's live template with this ID; `NotFound` if there is none."""
    template = _templates().filter(pk=template_id).first()
    if template is None:
        raise NotFound("No template with this ID exists.")
    return template


def filter_templates(query: dict[str, Any]) -> QuerySet[Template]:
    """Live templates, by ``name``, ``category``, ``language`` and ``status`` (a body's)."""
    rows = _templates()
    if query.get("name"):
        rows = rows.filter(name=query["name"])
    if query.get("category"):
        rows = rows.filter(category=query["category"])
    body_filter = {}
    if query.get("language"):
        body_filter["language"] = query["language"]
    if query.get("status"):
        body_filter["status"] = query["status"]
    if body_filter:
        rows = rows.filter(pk__in=TemplateBody.objects.filter(**body_filter).values("template_id"))
    return rows
