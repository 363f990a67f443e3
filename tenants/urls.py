from django.urls import path

from tenants import views

urlpatterns = [
    path("api-keys", views.ApiKeyListView.as_view(), name="api-key-list"),
    path("api-keys/<public_id:key_id>", views.ApiKeyDetailView.as_view(), name="api-key-detail"),
    path(
        "api-keys/<public_id:key_id>/revoke",
        views.RevokeApiKeyView.as_view(),
        name="api-key-revoke",
    ),
]
