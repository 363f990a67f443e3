"""Message templates: a name, a category and one body per language, each with its review status."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from engium.ids import new_id
from tenants.models import Language


class TemplateCategory(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    UTILITY = "utility", "Utility"
    AUTHENTICATION = "authentication", "Authentication"


class TemplateStatus(models.TextChoices):
    """A body's review status: pending → approved or rejected; approved → disabled (by Meta).

    Only WhatsApp Cloud reviews templates: without a WhatsApp Cloud integration that has a
    business account, a body is ``approved`` at once. Any change of its text starts over.
    """

    PENDING = "pending", "Pending"  # waiting for (or under) Meta's review
    APPROVED = "approved", "Approved"  # usable on every channel
    REJECTED = "rejected", "Rejected"  # Meta refused it; ``rejection_reason`` says why
    DISABLED = "disabled", "Disabled"  # Meta paused or disabled it after approval


def new_template_id() -> str:
    return new_id("tpl")


class Template(models.Model):
    """A tenant's message template. Deleting one keeps the row (``deleted_at``): messages
    sent with it keep their reference, and its name is free again."""

    id = models.CharField(primary_key=True, max_length=40, default=new_template_id, editable=False)
    name = models.CharField(max_length=512)
    category = models.CharField(max_length=16, choices=TemplateCategory.choices)
    #: sample values of the variables, shown to Meta's reviewers (variable → text)
    examples = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(deleted_at__isnull=True),
                name="one_live_template_per_name",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class TemplateBody(models.Model):
    """A template's text in one language, and where its review stands.

    ``submitted_at`` is set when the body was last handed to WhatsApp's review (null: not
    yet; the submit task or the periodic sync submits it). ``provider_template_id`` is
    Meta's ID of this name and language once Meta knows it.
    """

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="bodies")
    language = models.CharField(max_length=8, choices=Language.choices)
    text = models.TextField()
    #: the variable names, in the order they first appear in ``text``
    variables = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=TemplateStatus.choices)
    rejection_reason = models.TextField(blank=True)
    provider_template_id = models.CharField(max_length=64, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField()

    class Meta:
        ordering = ["template", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "language"], name="one_template_body_per_language"
            ),
        ]
        indexes = [
            models.Index(
                fields=["submitted_at"],
                condition=Q(status="pending"),
                name="template_body_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template_id} {self.language} ({self.status})"
