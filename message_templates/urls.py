from django.urls import path

from message_templates import views

urlpatterns = [
    path("templates", views.TemplateListView.as_view(), name="template-list"),
    path(
        "templates/<public_id:template_id>",
        views.TemplateDetailView.as_view(),
        name="template-detail",
    ),
]
