"""The developer portal at ``/docs/``: public pages, no API key."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe

from portal.pages import all_pages, find_page, render_page


def reader_base_url(request: HttpRequest) -> str:
    """The base URL the reader's examples should call: the deployment's public URL, else the
    address the reader reached this page at."""
    configured: str = settings.ENGIUM_PUBLIC_URL
    return (configured or request.build_absolute_uri("/")).rstrip("/")


def index(request: HttpRequest) -> HttpResponse:
    return redirect(all_pages()[0].url)


def page(request: HttpRequest, slug: str) -> HttpResponse:
    found = find_page(slug)
    if found is None:
        raise Http404("No such page.")
    html = render_page(found.slug, reader_base_url(request))
    return render(
        request,
        "portal/page.html",
        {
            "page": found,
            "pages": all_pages(),
            # The repository's own Markdown (portal/pages), never user input.
            "content": mark_safe(html),  # noqa: S308
        },
    )
