"""The console's URLs, under /console/."""

from __future__ import annotations

from django.urls import path

from console.views import (
    agents,
    auth,
    conversations,
    integrations,
    keys,
    members,
    overview,
    templates,
    webhooks,
)

app_name = "console"

urlpatterns = [
    path("", overview.overview, name="home"),
    # Authentication
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("password/", auth.PasswordChangeView.as_view(), name="password_change"),
    path("password/done/", auth.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password/reset/", auth.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", auth.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        auth.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/complete/",
        auth.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("tenants/", auth.pick_tenant, name="tenants"),
    # Conversations
    path("conversations/", conversations.conversation_list, name="conversations"),
    path(
        "conversations/<str:conversation_id>/",
        conversations.conversation_detail,
        name="conversation",
    ),
    path(
        "conversations/<str:conversation_id>/hand-back", conversations.hand_back, name="hand_back"
    ),
    # Settings
    path("settings/integrations/", integrations.integration_list, name="integrations"),
    path("settings/integrations/new/", integrations.integration_new, name="integration_new"),
    path(
        "settings/integrations/<str:integration_id>/",
        integrations.integration_detail,
        name="integration",
    ),
    path(
        "settings/integrations/<str:integration_id>/<slug:action>",
        integrations.integration_action,
        name="integration_action",
    ),
    path("settings/webhooks/", webhooks.endpoint_list, name="webhooks"),
    path("settings/webhooks/<str:endpoint_id>/", webhooks.endpoint_detail, name="webhook"),
    path(
        "settings/webhooks/<str:endpoint_id>/deliveries/<str:event_id>/replay",
        webhooks.replay_delivery,
        name="webhook_replay",
    ),
    path(
        "settings/webhooks/<str:endpoint_id>/<slug:action>",
        webhooks.endpoint_action,
        name="webhook_action",
    ),
    path("settings/api-keys/", keys.key_list, name="keys"),
    path("settings/api-keys/<str:key_id>/revoke", keys.key_revoke, name="key_revoke"),
    path("settings/templates/", templates.template_list, name="templates"),
    path("settings/templates/<str:template_id>/", templates.template_detail, name="template"),
    path(
        "settings/templates/<str:template_id>/delete",
        templates.template_delete,
        name="template_delete",
    ),
    path("settings/agent-roles/", agents.role_list, name="agent_roles"),
    path("settings/agent-roles/<uuid:role_id>/", agents.role_detail, name="agent_role"),
    path(
        "settings/agent-roles/<uuid:role_id>/make-default",
        agents.role_make_default,
        name="agent_role_default",
    ),
    path(
        "settings/agent-roles/<uuid:role_id>/delete", agents.role_delete, name="agent_role_delete"
    ),
    path("settings/members/", members.member_list, name="members"),
    path(
        "settings/members/<int:membership_id>/<slug:action>",
        members.member_action,
        name="member_action",
    ),
]
