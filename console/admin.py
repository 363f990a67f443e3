"""Support staff's read-only admin of one tenant's data (conversations, messages with their
status history and provider log, integrations without secrets, webhook deliveries).

The tenant is picked on the tenants page ("Browse its data"); `tenants.admin.TenantDataAdmin`
switches each view to its schema. Lives here, in the UI layer, because it spans apps that
`tenants` may not import.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from conversations.models import Conversation, Message, MessageStatusChange
from integrations.models import Integration, ProviderLogEntry
from integrations.providers.registry import UnknownProvider, get_provider
from tenants.admin import TenantDataAdmin
from webhooks.models import Attempt, Delivery, Endpoint


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: Any, obj: Any = None) -> bool:
        return bool(request.user.is_staff)


@admin.register(Conversation)
class ConversationAdmin(TenantDataAdmin):
    list_display = ("id", "channel", "recipient", "status", "created_at", "last_activity_at")
    list_filter = ("status", "channel")
    search_fields = ("=id", "recipient")
    date_hierarchy = "created_at"
    fields = (
        "id",
        "channel",
        "recipient",
        "status",
        "integration_id",
        "agent_role_id",
        "created_at",
        "last_activity_at",
        "closed_at",
        "messages_link",
    )
    readonly_fields = fields

    @admin.display(description="Messages")
    def messages_link(self, obj: Conversation) -> str:
        url = reverse("admin:conversations_message_changelist") + f"?q={obj.id}"
        return format_html('<a href="{}">Its messages</a>', url)


class StatusHistoryInline(ReadOnlyInline):
    model = MessageStatusChange
    fields = ("status", "occurred_at", "error_code", "error_message")
    readonly_fields = fields
    verbose_name_plural = "Status history"


@admin.register(Message)
class MessageAdmin(TenantDataAdmin):
    list_display = (
        "id",
        "conversation_id",
        "direction",
        "channel",
        "recipient",
        "status",
        "error_code",
        "created_at",
    )
    list_filter = ("status", "direction", "channel")
    search_fields = ("=id", "=conversation__id", "recipient", "=provider_message_id")
    date_hierarchy = "created_at"
    inlines = [StatusHistoryInline]
    fields = (
        "id",
        "conversation_id",
        "direction",
        "channel",
        "recipient",
        "integration_id",
        "status",
        "text",
        "media_url",
        "media_type",
        "template",
        "details",
        "provider_message_id",
        "error_code",
        "error_message",
        "attempts",
        "outcome_unknown",
        "next_attempt_at",
        "dispatched_at",
        "created_at",
        "updated_at",
        "provider_log",
    )
    readonly_fields = fields

    @admin.display(description="Provider log (secrets redacted)")
    def provider_log(self, obj: Message) -> str:
        entries = ProviderLogEntry.objects.filter(message_id=obj.id).order_by("id")
        if not entries:
            return "–"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{} ms</td>"
            "<td><pre>{}</pre></td><td><pre>{}</pre></td></tr>",
            (
                (
                    e.created_at.isoformat(timespec="seconds"),
                    e.method,
                    e.url,
                    e.status_code or e.error,
                    e.duration_ms,
                    e.request_body[:2000],
                    e.response_body[:2000],
                )
                for e in entries
            ),
        )
        return format_html(
            "<table><thead><tr><th>When</th><th>Request</th><th>Answer</th><th>Duration</th>"
            "<th>Request body</th><th>Answer body</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )


@admin.register(Integration)
class IntegrationAdmin(TenantDataAdmin):
    list_display = ("id", "name", "channel", "provider", "status", "is_default", "verification")
    list_filter = ("channel", "provider", "status", "verification")
    search_fields = ("=id", "name")
    # `config` is never shown: its public part is, without the provider's secret fields.
    fields = (
        "id",
        "name",
        "channel",
        "provider",
        "status",
        "is_default",
        "verification",
        "verification_detail",
        "verified_at",
        "public_config",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    @admin.display(description="Config (secrets left out)")
    def public_config(self, obj: Integration) -> str:
        try:
            shown = get_provider(obj.provider).public_config(obj.config)
        except UnknownProvider:
            shown = {}
        return format_html_join(", ", "{}={}", sorted(shown.items())) or "–"


@admin.register(Endpoint)
class EndpointAdmin(TenantDataAdmin):
    list_display = ("id", "url", "enabled", "disabled_reason", "failing_since", "created_at")
    list_filter = ("enabled",)
    search_fields = ("=id", "url")
    # `secrets` is never shown.
    fields = (
        "id",
        "url",
        "description",
        "events",
        "enabled",
        "disabled_reason",
        "failing_since",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields


class AttemptInline(ReadOnlyInline):
    model = Attempt
    fields = ("attempted_at", "status_code", "duration_ms", "error", "response", "succeeded")
    readonly_fields = fields


@admin.register(Delivery)
class DeliveryAdmin(TenantDataAdmin):
    list_display = ("event_id", "event_type", "endpoint_id", "status", "attempts", "created_at")
    list_filter = ("status", "event__type")
    search_fields = ("=event__id", "=endpoint__id", "endpoint__url", "=subject_id")
    date_hierarchy = "created_at"
    list_select_related = ("event",)
    inlines = [AttemptInline]
    fields = (
        "event_id",
        "event_type",
        "endpoint_id",
        "subject_id",
        "status",
        "attempts",
        "next_attempt_at",
        "dispatched_at",
        "created_at",
        "updated_at",
        "event_data",
    )
    readonly_fields = fields

    @admin.display(description="Event type", ordering="event__type")
    def event_type(self, obj: Delivery) -> str:
        return obj.event.type

    @admin.display(description="Event data")
    def event_data(self, obj: Delivery) -> Any:
        return format_html("<pre>{}</pre>", obj.event.data)
