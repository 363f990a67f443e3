"""The middleware of the pages people sign in to (console, support admin); the API passes over it.

The API (everything under ``/api/v1/``) authenticates each request by its key
(`tenants.middleware.TenantHeaderMiddleware`) and has no session, signed-in user, flash
messages or htmx: these wrap Django's and the libraries' middleware so that
an API request goes straight on, as if they were not there. That spares every API request
the work (a session store, a lazy user, a message store; about 70 µs of the send's
millisecond of Python), and keeps cookies and ``Vary: Cookie`` off API answers by
construction. Pages keep them all, in the same order.

Two stay on every request: CSRF (`django.middleware.csrf.CsrfViewMiddleware`), whose check
is per view (DRF exempts the API's views), and django-axes' (`axes.middleware.AxesMiddleware`,
named so by its system check), which only answers a locked-out sign-in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.middleware import AuthenticationMiddleware as _AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as _MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as _SessionMiddleware
from django.http import HttpRequest
from django_htmx.middleware import HtmxMiddleware as _HtmxMiddleware

from tenants.middleware import API_PREFIX


class _PagesOnly:
    """Passes API requests straight on (see the module's docstring)."""

    get_response: Callable[[HttpRequest], Any]

    def __call__(self, request: HttpRequest) -> Any:
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return super().__call__(request)  # type: ignore[misc]


class SessionMiddleware(_PagesOnly, _SessionMiddleware):
    pass


class AuthenticationMiddleware(_PagesOnly, _AuthenticationMiddleware):
    pass


class MessageMiddleware(_PagesOnly, _MessageMiddleware):
    pass


class HtmxMiddleware(_PagesOnly, _HtmxMiddleware):
    pass
