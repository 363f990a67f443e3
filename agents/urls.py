from django.urls import path

from agents import views

urlpatterns = [
    path("agent-roles", views.AgentRoleListView.as_view(), name="agent-role-list"),
    path(
        "agent-roles/<uuid:role_id>", views.AgentRoleDetailView.as_view(), name="agent-role-detail"
    ),
]
