from django.urls import path

from integrations import views

urlpatterns = [
    path("integrations", views.IntegrationListView.as_view(), name="integration-list"),
    path(
        "integrations/<str:integration_id>",
        views.IntegrationDetailView.as_view(),
        name="integration-detail",
    ),
    path(
        "integrations/<str:integration_id>/sandbox/inbound",
        views.SandboxInboundView.as_view(),
        name="integration-sandbox-inbound",
    ),
]
