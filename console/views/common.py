"""Helpers shared by the console's views."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from console.access import console
from engium.exceptions import EngiumError

PAGE_SIZE = 25


def page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """Render a console page with the tenant, the role and the sidebar's current section."""
    ctx = console(request)
    return render(
        request,
        template,
        {"console": ctx, "tenant": ctx.tenant, **context},
        status=status,
    )


def paginate(request: HttpRequest, rows: QuerySet[Any]) -> Page:
    return Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))


def form_error(form: forms.Form, error: EngiumError) -> None:
    """Put a service's validation error on the form field it names (``config.x`` → ``x``)."""
    field = (getattr(error, "field", None) or "").removeprefix("config.")
    form.add_error(field if field in form.fields else None, error.message)
