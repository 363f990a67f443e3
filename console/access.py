"""Who may do what in the console, enforced on the server for every page and every POST.

Every console view is wrapped in `console_view`: it requires a logged-in user with a
membership of the tenant picked in the session, switches the connection to that tenant's
schema for the view (and back to ``public`` after), and refuses with 403 a request whose
role lacks the view's permission. A page names the permission its GETs need and the one
its POSTs need, so a forged POST by a viewer is refused even where the page hides the form.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django_htmx.http import HttpResponseClientRedirect

from engium.tenancy import use_public_schema, use_tenant
from tenants.models import Membership, Role, Tenant

#: the session key holding the public ID of the tenant the user works in
SESSION_TENANT = "console_tenant"


class Permission(enum.StrEnum):
    READ = "read"  # every page: overview, conversations, settings (read only)
    OPERATE = "operate"  # act on conversations (hand back to the agent)
    MANAGE_KEYS = "manage_keys"  # create and revoke API keys
    MANAGE_CONTENT = "manage_content"  # message templates and agent roles
    MANAGE_SETTINGS = "manage_settings"  # integrations and webhooks
    MANAGE_MEMBERS = "manage_members"  # invite, change roles, remove


#: The roles matrix (docs/console.md#roles).
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset(
        {
            Permission.READ,
            Permission.OPERATE,
            Permission.MANAGE_KEYS,
            Permission.MANAGE_CONTENT,
            Permission.MANAGE_SETTINGS,
        }
    ),
    Role.DEVELOPER: frozenset(
        {Permission.READ, Permission.OPERATE, Permission.MANAGE_KEYS, Permission.MANAGE_CONTENT}
    ),
    Role.VIEWER: frozenset({Permission.READ}),
}


@dataclass(frozen=True)
class ConsoleContext:
    """The tenant a request works in and the user's role there."""

    tenant: Tenant
    membership: Membership

    @property
    def role(self) -> str:
        return self.membership.role

    def can(self, permission: Permission | str) -> bool:
        return Permission(permission) in ROLE_PERMISSIONS.get(self.role, frozenset())

    # Template-friendly flags.
    @property
    def can_operate(self) -> bool:
        return self.can(Permission.OPERATE)

    @property
    def can_manage_keys(self) -> bool:
        return self.can(Permission.MANAGE_KEYS)

    @property
    def can_manage_content(self) -> bool:
        return self.can(Permission.MANAGE_CONTENT)

    @property
    def can_manage_settings(self) -> bool:
        return self.can(Permission.MANAGE_SETTINGS)

    @property
    def can_manage_members(self) -> bool:
        return self.can(Permission.MANAGE_MEMBERS)


def memberships_of(user: Any) -> list[Membership]:
    """The user's memberships of active tenants, by tenant name."""
    return list(
        Membership.objects.filter(user=user, tenant__is_active=True)
        .select_related("tenant")
        .order_by("tenant__name", "tenant__public_id")
    )


def current_membership(request: HttpRequest) -> Membership | None:
    """The membership of the tenant picked in the session, or the only one the user has."""
    memberships = memberships_of(request.user)
    picked = request.session.get(SESSION_TENANT)
    for membership in memberships:
        if membership.tenant.public_id == picked:
            return membership
    if len(memberships) == 1:
        request.session[SESSION_TENANT] = memberships[0].tenant.public_id
        return memberships[0]
    return None


ViewFunction = Callable[..., HttpResponse]


def console_view(
    read: Permission = Permission.READ, write: Permission | None = None
) -> Callable[[ViewFunction], ViewFunction]:
    """Wrap a console view: login, tenant, schema and role checks (see the module docstring).

    ``read`` is what GET and HEAD need; ``write`` what any other method needs (default: the
    same as ``read``). The view gets ``request.console`` (a `ConsoleContext`).
    """

    def decorate(view: ViewFunction) -> ViewFunction:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                if getattr(request, "htmx", False):
                    # A live part of a page whose session ended: the whole page goes.
                    return HttpResponseClientRedirect(resolve_url(settings.LOGIN_URL))
                return redirect_to_login(request.get_full_path())
            membership = current_membership(request)
            if membership is None:
                return redirect("console:tenants")
            context = ConsoleContext(tenant=membership.tenant, membership=membership)
            needed = read if request.method in ("GET", "HEAD") else (write or read)
            if not context.can(needed):
                raise PermissionDenied(f"Your role ({context.role}) cannot do this.")
            request.console = context  # type: ignore[attr-defined]
            use_tenant(membership.tenant)
            try:
                response = view(request, *args, **kwargs)
                # Console pages hold a tenant's data: never kept by a shared cache.
                response.setdefault("Cache-Control", "no-store")
                return response
            finally:
                use_public_schema()

        return wrapped

    return decorate


def console(request: HttpRequest) -> ConsoleContext:
    """The request's `ConsoleContext` (set by `console_view`)."""
    context: ConsoleContext = request.console  # type: ignore[attr-defined]
    return context
