"""The pages' middleware passes API requests straight on, and still serves the pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from console import middleware
from tests.conftest import make_tenant

PAGES_ONLY = [
    (middleware.SessionMiddleware, "session"),
    (middleware.AuthenticationMiddleware, "user"),
    (middleware.MessageMiddleware, "_messages"),
    (middleware.HtmxMiddleware, "htmx"),
]


def _seen(middleware_class: Any, path: str) -> HttpRequest:
    seen: list[HttpRequest] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse("ok")

    request = RequestFactory().get(path)
    if middleware_class is not middleware.SessionMiddleware:  # they read the session
        request.session = SessionStore()  # type: ignore[attr-defined]
    answer = middleware_class(view)(request)
    assert answer.status_code == 200
    return seen[0]


@pytest.mark.parametrize(("middleware_class", "attribute"), PAGES_ONLY)
def test_an_api_request_passes_straight_on(middleware_class: Any, attribute: str) -> None:
    request = _seen(middleware_class, "/api/v1/conversations")
    assert not hasattr(request, attribute)


@pytest.mark.parametrize(("middleware_class", "attribute"), PAGES_ONLY)
def test_a_page_request_gets_what_the_middleware_gives(
    middleware_class: Any, attribute: str
) -> None:
    assert hasattr(_seen(middleware_class, "/console/"), attribute)


@pytest.mark.django_db
def test_api_answers_set_no_cookie_and_do_not_vary_by_one(client: Any) -> None:
    tenant = make_tenant("Cookies", channels=("sms",))
    client.cookies["sessionid"] = "a-session-the-api-ignores"
    answer = client.get(
        "/api/v1/conversations",
        **tenant.headers(),
    )
    assert answer.status_code == 200, answer.content
    assert not answer.cookies
    assert "Cookie" not in answer.get("Vary", "")
