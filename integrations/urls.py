from django.urls import path

from integrations import views

urlpatterns = [
    path("integrations", views.IntegrationListView.as_view(), name="integration-list"),
    path(
        "integrations/<public_id:integration_id>",
        views.IntegrationDetailView.as_view(),
        name="integration-detail",
    ),
    path(
        "integrations/<public_id:integration_id>/test",
        views.IntegrationTestView.as_view(),
        name="integration-test",
    ),
]
