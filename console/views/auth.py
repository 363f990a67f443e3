"""Log in, log out, passwords, and picking the tenant to work in (Django's auth views)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_http_methods

from console.access import SESSION_TENANT, memberships_of
from console.forms import EmailAuthenticationForm


class LoginView(auth_views.LoginView):
    template_name = "console/auth/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "console/auth/password_change.html"
    success_url = reverse_lazy("console:password_change_done")


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "console/auth/password_change_done.html"


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "console/auth/password_reset.html"
    email_template_name = "console/email/password_reset.txt"
    subject_template_name = "console/email/password_reset_subject.txt"
    success_url = reverse_lazy("console:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "console/auth/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "console/auth/password_reset_confirm.html"
    success_url = reverse_lazy("console:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "console/auth/password_reset_complete.html"


@login_required
@require_http_methods(["GET", "POST"])
def pick_tenant(request: HttpRequest) -> HttpResponse:
    """The tenants the user belongs to; POST ``tenant`` picks one (only one of those)."""
    memberships = memberships_of(request.user)
    if request.method == "POST":
        wanted = request.POST.get("tenant", "")
        if any(m.tenant.public_id == wanted for m in memberships):
            request.session[SESSION_TENANT] = wanted
            return redirect("console:home")
        return render(
            request,
            "console/auth/tenants.html",
            {"memberships": memberships, "error": "Choose one of your tenants."},
            status=400,
        )
    return render(
        request,
        "console/auth/tenants.html",
        {"memberships": memberships, "picked": request.session.get(SESSION_TENANT)},
    )
