from django.urls import path

from conversations import views

urlpatterns = [
    path("conversations/send", views.SendMessageView.as_view(), name="conversation-send"),
    path("conversations", views.ConversationListView.as_view(), name="conversation-list"),
    path(
        "conversations/<public_id:conversation_id>",
        views.ConversationDetailView.as_view(),
        name="conversation-detail",
    ),
    path(
        "conversations/<public_id:conversation_id>/close",
        views.CloseConversationView.as_view(),
        name="conversation-close",
    ),
    path(
        "conversations/<public_id:conversation_id>/resume-agent",
        views.ResumeAgentView.as_view(),
        name="conversation-resume-agent",
    ),
    path("messages", views.MessageListView.as_view(), name="message-list"),
    path(
        "messages/<public_id:message_id>", views.MessageDetailView.as_view(), name="message-detail"
    ),
    path(
        "integrations/<public_id:integration_id>/sandbox/inbound",
        views.SandboxInboundView.as_view(),
        name="integration-sandbox-inbound",
    ),
]
