from django.urls import path

from media import views

urlpatterns = [
    path("media", views.MediaListView.as_view(), name="media-list"),
    path("media/<public_id:media_id>", views.MediaDetailView.as_view(), name="media-detail"),
]
