from django.contrib import admin

from tenants.models import ApiKey, Membership, Tenant


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "created_at", "last_used_at")


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "public_id", "plan", "rate_limit", "is_active", "created_at")
    list_filter = ("plan", "is_active")
    search_fields = ("name", "public_id")
    readonly_fields = ("public_id", "schema_name", "created_at", "updated_at")
    inlines = [ApiKeyInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role",)
