"""Members: owners invite by email, change roles, remove (never the last owner)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.views.decorators.http import require_POST

from console.access import Permission, console, console_view
from console.forms import InviteForm, RoleForm
from console.views.common import page
from engium.exceptions import NotFound, ValidationFailed
from tenants import services
from tenants.models import Membership

MEMBERS = Permission.MANAGE_MEMBERS


@console_view(write=MEMBERS)
def member_list(request: HttpRequest) -> HttpResponse:
    """The members; POST invites one by email."""
    ctx = console(request)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"].lower()
        if Membership.objects.filter(tenant=ctx.tenant, user__username=email).exists():
            form.add_error("email", "Already a member: change their role below.")
        else:
            membership = services.add_member(
                ctx.tenant, email=email, password=None, role=form.cleaned_data["role"]
            )
            _send_invitation(request, membership)
            messages.success(request, f"Invited {email} as {membership.get_role_display()}.")
            return redirect("console:members")
    rows = Membership.objects.filter(tenant=ctx.tenant).select_related("user")
    return page(
        request,
        "console/members/list.html",
        {
            "section": "members",
            "members": rows.order_by("user__username"),
            "form": form,
            "role_form": RoleForm(),
        },
        status=400 if request.method == "POST" else 200,
    )


def _send_invitation(request: HttpRequest, membership: Membership) -> None:
    """Mail the invitation; a user without a password gets a link to choose one."""
    user = membership.user
    link = request.build_absolute_uri(reverse("console:login"))
    if not user.has_usable_password():
        link = request.build_absolute_uri(
            reverse(
                "console:password_reset_confirm",
                kwargs={
                    "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                    "token": default_token_generator.make_token(user),
                },
            )
        )
    body = render_to_string(
        "console/email/invitation.txt",
        {
            "tenant": membership.tenant,
            "role": membership.get_role_display(),
            "link": link,
            "inviter": request.user.get_username(),
            "needs_password": not user.has_usable_password(),
        },
    )
    send_mail(f"You are invited to {membership.tenant.name} on Engium", body, None, [user.email])


@require_POST
@console_view(write=MEMBERS)
def member_action(request: HttpRequest, membership_id: int, action: str) -> HttpResponse:
    """``role`` (with ``role``) or ``remove``."""
    tenant = console(request).tenant
    try:
        if action == "role":
            form = RoleForm(request.POST)
            if not form.is_valid():
                messages.error(request, "Choose a role.")
                return redirect("console:members")
            changed = services.change_member_role(
                tenant, membership_id, role=form.cleaned_data["role"]
            )
            messages.success(
                request, f"{changed.user.get_username()} is now {changed.get_role_display()}."
            )
        elif action == "remove":
            services.remove_member(tenant, membership_id)
            messages.success(request, "Member removed.")
        else:
            raise Http404("No such action.")
    except NotFound as exc:
        raise Http404(exc.message) from exc
    except ValidationFailed as exc:
        messages.error(request, exc.message)
    return redirect("console:members")
