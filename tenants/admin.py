"""Support staff's view of tenants, their keys and members (Django admin).

Rows that need more than a form can give go through the services: a tenant is created
with its schema and first key (`create_tenant`), a key is minted with `create_api_key`
and shown once, and revoked with `revoke_api_key`. The admin never makes a key row
without a key, nor a tenant without a schema.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from engium.tenancy import use_public_schema, use_tenant
from integrations.models import ProviderCallback, ProviderLogEntry
from tenants import services
from tenants.models import ApiKey, Membership, Tenant

#: the session key holding the tenant whose provider log and callbacks support is reading
SUPPORT_TENANT = "admin_support_tenant"


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # keys are minted by the action, which shows the key once

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead (API keys page): the row keeps its history


class TenantCreationForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ("name", "plan", "rate_limit", "default_language")


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "public_id", "plan", "rate_limit", "is_active", "created_at")
    list_filter = ("plan", "is_active")
    search_fields = ("name", "public_id")
    readonly_fields = ("public_id", "schema_name", "created_at", "updated_at")
    inlines = [ApiKeyInline]
    actions = ["mint_api_key", "suspend", "reactivate", "read_provider_log"]

    # Support staff read tenants and pick one to browse; superusers manage them (plans,
    # custom rate limits, suspension).
    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = TenantCreationForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return [(None, {"fields": TenantCreationForm.Meta.fields})]
        return super().get_fieldsets(request, obj)

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.inlines if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Tenant, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        tenant, issued = services.create_tenant(
            name=obj.name,
            plan=obj.plan,
            rate_limit=obj.rate_limit,
            default_language=obj.default_language,
        )
        obj.pk = tenant.pk
        obj.refresh_from_db()
        _show_key_once(request, tenant, issued.raw_key)

    @admin.action(description="Mint a new API key (shown once)", permissions=["change"])
    def mint_api_key(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            issued = services.create_api_key(tenant, name=f"Minted by {request.user}")
            _show_key_once(request, tenant, issued.raw_key)

    @admin.action(description="Suspend (their API answers 403)", permissions=["change"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            services.set_tenant_active(tenant, active=False)
        self.message_user(request, f"Suspended {queryset.count()} tenant(s).")

    @admin.action(
        description="Browse its data: conversations, messages, integrations, webhooks",
        permissions=["view"],
    )
    def read_provider_log(
        self, request: HttpRequest, queryset: QuerySet[Tenant]
    ) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one tenant.", messages.ERROR)
            return None
        request.session[SUPPORT_TENANT] = queryset.get().public_id
        return HttpResponseRedirect(reverse("admin:conversations_conversation_changelist"))

    @admin.action(description="Reactivate", permissions=["change"])
    def reactivate(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            services.set_tenant_active(tenant, active=True)
        self.message_user(request, f"Reactivated {queryset.count()} tenant(s).")


def _show_key_once(request: HttpRequest, tenant: Tenant, raw_key: str) -> None:
    messages.warning(
        request,
        f"API key for {tenant.name} ({tenant.public_id}): {raw_key} — copy it now; "
        "it is not stored and will not be shown again.",
    )


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "tenant", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "tenant__public_id", "tenant__name")
    fields = ("tenant", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("tenant", "prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a key row without a key is useless: mint one from its tenant

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the row keeps its history

    @admin.action(description="Revoke")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            services.revoke_api_key(api_key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role",)


class TenantDataAdmin(admin.ModelAdmin):
    """Read-only admin of a tenant-schema table, for the tenant chosen on the tenants page.

    Admin runs in ``public``; these views switch to the chosen tenant's schema (the
    "Browse its data" action puts it in the session) while they run and render, and back
    after. Any staff member may read them; nobody edits a tenant's history here.
    """

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return self._in_support_tenant(
            request,
            lambda ctx: super(TenantDataAdmin, self).changelist_view(request, ctx),
            extra_context,
            plural=True,
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        return self._in_support_tenant(
            request,
            lambda ctx: super(TenantDataAdmin, self).change_view(request, object_id, form_url, ctx),
            extra_context,
            plural=False,
        )

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The admin's change log lives in `public` and never names a tenant's rows.
        raise PermissionDenied

    def _in_support_tenant(
        self,
        request: HttpRequest,
        view: Any,
        extra_context: dict[str, Any] | None,
        *,
        plural: bool,
    ) -> HttpResponse:
        tenant = support_tenant(request)
        if tenant is None:
            self.message_user(
                request,
                "Choose a tenant first: Tenants → select one → “Browse its data”.",
                messages.WARNING,
            )
            return HttpResponseRedirect(reverse("admin:tenants_tenant_changelist"))
        context = dict(extra_context or {})
        if plural:
            context["title"] = (
                f"{str(self.model._meta.verbose_name_plural).capitalize()} "
                f"of {tenant.name} ({tenant.public_id})"
            )
        context["subtitle"] = f"Tenant: {tenant.name} ({tenant.public_id})"
        use_tenant(tenant)
        try:
            response = view(context)
            if isinstance(response, TemplateResponse):
                response.render()  # while the tenant's schema is on
            return response
        finally:
            use_public_schema()


def support_tenant(request: HttpRequest) -> Tenant | None:
    """The tenant whose data support staff browse (picked on the tenants page)."""
    return Tenant.objects.filter(public_id=request.session.get(SUPPORT_TENANT)).first()


@admin.register(ProviderLogEntry)
class ProviderLogEntryAdmin(TenantDataAdmin):
    list_display = (
        "created_at",
        "message_id",
        "provider",
        "method",
        "url",
        "status_code",
        "error",
        "duration_ms",
        "request_body",
        "response_body",
    )
    list_filter = ("provider", "status_code")
    search_fields = ("message_id",)


@admin.register(ProviderCallback)
class ProviderCallbackAdmin(TenantDataAdmin):
    list_display = ("received_at", "provider", "kind", "state", "notes", "body", "processed_at")
    list_filter = ("provider", "kind", "state")
