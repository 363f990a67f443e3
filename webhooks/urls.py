from django.urls import path

from webhooks import views

_ENDPOINT = "webhooks/<public_id:endpoint_id>"
_DELIVERY = f"{_ENDPOINT}/deliveries/<public_id:delivery_id>"

urlpatterns = [
    path("webhooks", views.EndpointListView.as_view(), name="webhook-list"),
    path(_ENDPOINT, views.EndpointDetailView.as_view(), name="webhook-detail"),
    path(f"{_ENDPOINT}/secret", views.EndpointSecretView.as_view(), name="webhook-secret"),
    path(
        f"{_ENDPOINT}/rotate-secret",
        views.EndpointRotateSecretView.as_view(),
        name="webhook-rotate-secret",
    ),
    path(f"{_ENDPOINT}/test", views.EndpointTestView.as_view(), name="webhook-test"),
    path(f"{_ENDPOINT}/replay", views.EndpointReplayView.as_view(), name="webhook-replay"),
    path(f"{_ENDPOINT}/deliveries", views.DeliveryListView.as_view(), name="webhook-deliveries"),
    path(_DELIVERY, views.DeliveryDetailView.as_view(), name="webhook-delivery"),
    path(f"{_DELIVERY}/replay", views.DeliveryReplayView.as_view(), name="webhook-delivery-replay"),
]
