"""Writes on message templates: create, change, delete, render for a send, and WhatsApp's review.

Review (WhatsApp Cloud only): when the WhatsApp channel's default integration is WhatsApp
Cloud with a ``business_account_id``, a new or changed body is ``pending`` and is submitted
to Graph by a task published after commit (never inside the request's transaction); the
periodic sync (`sync_templates`) submits what a lost task left behind and reads every
template's status from Graph, and Meta's ``message_template_status_update`` webhook updates
a body as soon as it is reviewed (`apply_template_status`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from engium import outbox
from engium.exceptions import (
    NotFound,
    TemplateLanguageUnavailable,
    TemplateNotApproved,
    TemplateNotFound,
    ValidationFailed,
)
from engium.tenancy import current_schema
from integrations.models import Channel, Integration, IntegrationStatus
from integrations.providers.base import (
    ProviderError,
    TemplateStatusReport,
    TemplateSubmission,
)
from integrations.providers.registry import UnknownProvider, get_provider
from message_templates import rendering
from message_templates.models import Template, TemplateBody, TemplateStatus
from tenants.models import Language

logger = logging.getLogger(__name__)

# The task of `message_templates.tasks`, published by name (services never import tasks).
SUBMIT_TEMPLATE_BODIES = "message_templates.submit_template_bodies"
#: a pending body whose submission started this long ago without an answer is submitted again
SUBMIT_LEASE_SECONDS = 600
FALLBACK_LANGUAGE = Language.EN.value


# ------------------------------------------------------------------ checking bodies


def _check_bodies(bodies: Mapping[str, str]) -> dict[str, list[str]]:
    """Every body's variables (in order of appearance); the same set in every language.

    Raises `ValidationFailed` naming the body (``bodies.<language>``) at fault.
    """
    if not bodies:
        raise ValidationFailed("A template needs a body in at least one language.", field="bodies")
    variables: dict[str, list[str]] = {}
    for language in sorted(bodies):
        text = bodies[language]
        if not text.strip():
            raise ValidationFailed("A body cannot be empty.", field=f"bodies.{language}")
        if len(text) > rendering.MAX_BODY_LENGTH:
            raise ValidationFailed(
                f"A body is at most {rendering.MAX_BODY_LENGTH} characters long.",
                field=f"bodies.{language}",
            )
        try:
            variables[language] = rendering.parse_variables(text)
        except rendering.TemplateTextError as exc:
            raise ValidationFailed(str(exc), field=f"bodies.{language}") from exc
    # Compare with the English body if there is one, else with the first language.
    reference = FALLBACK_LANGUAGE if FALLBACK_LANGUAGE in variables else sorted(variables)[0]
    expected = set(variables[reference])
    for language, names in sorted(variables.items()):
        if set(names) != expected:
            missing = sorted(expected - set(names))
            extra = sorted(set(names) - expected)
            parts = [
                f"lacks {', '.join(missing)}" if missing else "",
                f"adds {', '.join(extra)}" if extra else "",
            ]
            raise ValidationFailed(
                f"Every language must use the same variables as the {reference} body; this one "
                + " and ".join(part for part in parts if part)
                + ".",
                field=f"bodies.{language}",
            )
    return variables


def _check_examples(examples: Mapping[str, str], variables: set[str]) -> None:
    for name in sorted(examples):
        if name not in variables:
            raise ValidationFailed(
                f"{name} is not a variable of this template.", field=f"examples.{name}"
            )


# ------------------------------------------------------------------ create, change, delete


def create_template(
    *,
    name: str,
    category: str,
    bodies: Mapping[str, str],
    examples: Mapping[str, str] | None = None,
) -> Template:
    """A new template; its bodies are submitted to WhatsApp's review where that applies."""
    variables = _check_bodies(bodies)
    _check_examples(examples or {}, set(next(iter(variables.values()))))
    reviewed = _reviewing_integration() is not None
    now = timezone.now()
    try:
        with transaction.atomic():
            template = Template.objects.create(
                name=name, category=category, examples=dict(examples or {})
            )
            TemplateBody.objects.bulk_create(
                _new_body(template, language, text, variables[language], reviewed=reviewed, at=now)
                for language, text in sorted(bodies.items())
            )
            if reviewed:
                _submit_after_commit(template)
    except IntegrityError as exc:
        raise ValidationFailed(f"A template named {name!r} exists already.", field="name") from exc
    return template


def update_template(
    template_id: str,
    *,
    category: str | None = None,
    bodies: Mapping[str, str | None] | None = None,
    examples: Mapping[str, str] | None = None,
) -> Template:
    """Change the given fields. ``bodies`` sets the given languages (``None`` removes one).

    A body whose text changes (or every body, when the category changes) goes back to
    review; the others keep their status.
    """
    with transaction.atomic():
        template = _live_templates().select_for_update().filter(pk=template_id).first()
        if template is None:
            raise NotFound("No template with this ID exists.")
        current = {body.language: body for body in template.bodies.all()}
        texts = {language: body.text for language, body in current.items()}
        for language, text in (bodies or {}).items():
            if text is None:
                texts.pop(language, None)
            else:
                texts[language] = text
        variables = _check_bodies(texts)
        merged_examples = template.examples if examples is None else dict(examples)
        _check_examples(merged_examples, set(next(iter(variables.values()))))
        recategorised = category is not None and category != template.category
        reviewed = _reviewing_integration() is not None
        now = timezone.now()
        resubmit = False
        TemplateBody.objects.filter(
            template=template, language__in=set(current) - set(texts)
        ).delete()
        for language, text in texts.items():
            body = current.get(language)
            if body is None:
                _new_body(
                    template, language, text, variables[language], reviewed=reviewed, at=now
                ).save()
                resubmit |= reviewed
            elif (
                body.text != text
                or recategorised
                or (examples is not None and merged_examples != template.examples)
            ):
                body.text, body.variables = text, variables[language]
                _start_review(body, reviewed=reviewed, at=now)
                body.save()
                resubmit |= reviewed
        if category is not None:
            template.category = category
        template.examples = merged_examples
        template.save()
        if resubmit:
            _submit_after_commit(template)
    return template


def delete_template(template_id: str) -> None:
    """Delete a template: sends with it answer ``template_not_found``; messages keep their
    reference. The row stays (``deleted_at``) and its name is free again."""
    deleted = _live_templates().filter(pk=template_id).update(deleted_at=timezone.now())
    if not deleted:
        raise NotFound("No template with this ID exists.")


def _live_templates() -> Any:
    return Template.objects.filter(deleted_at__isnull=True)


def _new_body(
    template: Template,
    language: str,
    text: str,
    variables: list[str],
    *,
    reviewed: bool,
    at: datetime,
) -> TemplateBody:
    body = TemplateBody(template=template, language=language, text=text, variables=variables)
    _start_review(body, reviewed=reviewed, at=at)
    return body


def _start_review(body: TemplateBody, *, reviewed: bool, at: datetime) -> None:
    body.status = TemplateStatus.PENDING if reviewed else TemplateStatus.APPROVED
    body.rejection_reason = ""
    body.submitted_at = None
    body.status_changed_at = at


# ------------------------------------------------------------------ rendering for a send


@dataclass(frozen=True)
class RenderedTemplate:
    """A template made ready for one send."""

    #: the rendered body: what SMS and voice send, and the message's ``text``
    text: str
    #: the message's template reference: ``{"id", "language"}`` (the language used)
    reference: dict[str, str]
    #: what a provider with native templates sends: ``{"name", "language", "parameters"}``
    provider_template: dict[str, Any]


def render_template(
    reference: Mapping[str, Any], *, default_language: str, require_approval: bool
) -> RenderedTemplate:
    """Render a send's ``{"id", "language"?, "variables"?}`` (one query).

    The language is the first of: the requested one, the tenant's ``default_language``,
    English, that the template has a body in. Every variable of the body must be given, and
    nothing else (``validation_error`` naming ``message.template.variables.<name>``). With
    ``require_approval`` (WhatsApp Cloud), the chosen body must be ``approved``.
    """
    template_id = str(reference["id"])
    bodies = {
        body.language: body
        for body in TemplateBody.objects.filter(
            template_id=template_id, template__deleted_at__isnull=True
        ).select_related("template")
    }
    if not bodies:
        raise TemplateNotFound(field="message.template.id")
    requested = reference.get("language")
    candidates = [requested, default_language, FALLBACK_LANGUAGE]
    language = next((code for code in candidates if code and code in bodies), None)
    if language is None:
        raise TemplateLanguageUnavailable(
            f"The template has no body in {', '.join(dict.fromkeys(c for c in candidates if c))};"
            f" it has {', '.join(sorted(bodies))}.",
            field="message.template.language",
        )
    body = bodies[language]
    values: Mapping[str, str] = reference.get("variables") or {}
    _check_values(body.variables, values)
    if require_approval and body.status != TemplateStatus.APPROVED:
        reason = f" ({body.rejection_reason})" if body.rejection_reason else ""
        raise TemplateNotApproved(
            f"WhatsApp has not approved this template in {language}: it is {body.status}"
            f"{reason}. Only approved templates can be sent on WhatsApp Cloud.",
            field="message.template.id",
        )
    text = rendering.render(body.text, values)
    return RenderedTemplate(
        text=text,
        reference={"id": template_id, "language": language},
        provider_template={
            "name": body.template.name,
            "language": language,
            "parameters": [values[name] for name in body.variables],
        },
    )


def _check_values(variables: list[str], values: Mapping[str, str]) -> None:
    missing = [name for name in variables if name not in values]
    unknown = sorted(set(values) - set(variables))
    problems = [
        {"field": f"message.template.variables.{name}", "message": "This variable is required."}
        for name in missing
    ] + [
        {
            "field": f"message.template.variables.{name}",
            "message": "The template has no such variable.",
        }
        for name in unknown
    ]
    if problems:
        first = problems[0]
        summary = f"Missing variable {missing[0]}" if missing else f"Unknown variable {unknown[0]}"
        raise ValidationFailed(
            f"{summary}; the template's variables are {', '.join(variables) or 'none'}.",
            field=first["field"],
            details=problems,
        )


# ------------------------------------------------------------------ WhatsApp's review


def _reviewing_integration() -> Integration | None:
    """The integration templates are reviewed by: the WhatsApp channel's default one, when
    its provider reviews templates (WhatsApp Cloud with a ``business_account_id``)."""
    integration = Integration.objects.filter(
        channel=Channel.WHATSAPP, is_default=True, status=IntegrationStatus.ACTIVE
    ).first()
    if integration is None:
        return None
    try:
        provider = get_provider(integration.provider)
    except UnknownProvider:
        return None
    return integration if provider.reviews_templates(integration.config) else None


def _submit_after_commit(template: Template) -> None:
    schema = current_schema()
    transaction.on_commit(
        # If the broker is down, the periodic sync submits the bodies (`submitted_at` null).
        lambda: outbox.publish(SUBMIT_TEMPLATE_BODIES, schema=schema, args=[template.pk])
    )


def submit_template_bodies(template_id: str) -> int:
    """Submit the template's pending bodies that are not under review yet; how many were.

    Each body is claimed first (``submitted_at``, committed), then submitted outside any
    transaction; a duplicate task finds nothing left to claim.
    """
    integration = _reviewing_integration()
    if integration is None:
        return 0
    submitted = 0
    for body_id in _claim_bodies(TemplateBody.objects.filter(template_id=template_id)):
        submitted += _submit(integration, body_id)
    return submitted


def _claim_bodies(bodies: Any, *, now: datetime | None = None) -> list[int]:
    now = now or timezone.now()
    stale = now - timedelta(seconds=SUBMIT_LEASE_SECONDS)
    with transaction.atomic():
        ids = list(
            bodies.select_for_update(skip_locked=True)
            .filter(status=TemplateStatus.PENDING, template__deleted_at__isnull=True)
            .filter(submitted_at__isnull=True)
            .values_list("pk", flat=True)
        ) + list(
            bodies.select_for_update(skip_locked=True)
            .filter(
                status=TemplateStatus.PENDING,
                template__deleted_at__isnull=True,
                submitted_at__lt=stale,
                provider_template_id="",
            )
            .values_list("pk", flat=True)
        )
        TemplateBody.objects.filter(pk__in=ids).update(submitted_at=now)
    return ids


def _submit(integration: Integration, body_id: int) -> int:
    body = TemplateBody.objects.select_related("template").get(pk=body_id)
    template = body.template
    submission = TemplateSubmission(
        name=template.name,
        category=template.category,
        language=body.language,
        text=rendering.numbered(body.text, body.variables),
        examples=[str(template.examples.get(name) or name) for name in body.variables],
        provider_template_id=body.provider_template_id,
    )
    provider = get_provider(integration.provider)
    try:
        report = provider.submit_template(integration.config, submission)
    except ProviderError as error:
        if error.transient:
            # Tried again by the periodic sync once the lease has passed.
            logger.info("template submission failed; retried later", extra={"code": error.code})
            return 0
        report = TemplateStatusReport(
            status=TemplateStatus.REJECTED,
            reason=f"Graph refused the submission: {error.message} ({error.code})",
        )
    TemplateBody.objects.filter(pk=body.pk, submitted_at__isnull=False).update(
        status=report.status,
        rejection_reason=report.reason[:2000],
        provider_template_id=report.provider_template_id or body.provider_template_id,
        status_changed_at=timezone.now(),
    )
    return 1


def apply_template_status(report: TemplateStatusReport) -> TemplateBody | None:
    """Apply a review result to the body it is about (by Meta's ID, else name and language).

    A body waiting to be submitted (changed since) keeps ``pending``: the report is about
    its previous text. Returns the body, or None when it names no body of ours.
    """
    live = TemplateBody.objects.filter(template__deleted_at__isnull=True)
    with transaction.atomic():
        body = None
        if report.provider_template_id:
            body = (
                live.select_for_update()
                .filter(provider_template_id=report.provider_template_id)
                .first()
            )
        if body is None and report.name and report.language:
            body = (
                live.select_for_update()
                .filter(template__name=report.name, language=report.language)
                .first()
            )
        if body is None:
            return None
        if body.submitted_at is None and body.status == TemplateStatus.PENDING:
            return body
        changed = body.status != report.status or body.rejection_reason != report.reason
        body.provider_template_id = report.provider_template_id or body.provider_template_id
        if changed:
            body.status = report.status
            body.rejection_reason = (
                report.reason if report.status != TemplateStatus.APPROVED else ""
            )
            body.status_changed_at = timezone.now()
        body.save(
            update_fields=[
                "status",
                "rejection_reason",
                "provider_template_id",
                "status_changed_at",
            ]
        )
    return body


def sync_template_statuses(*, now: datetime | None = None) -> int:
    """Bring every body in line with Graph (the periodic sync); how many bodies changed.

    Reads Graph's list of templates and applies each status; then submits every pending body
    not under review yet, or whose submission was lost (its lease passed), and every body
    Meta does not know at all (e.g. made before the business account was connected).
    """
    integration = _reviewing_integration()
    if integration is None:
        return 0
    provider = get_provider(integration.provider)
    try:
        reports = provider.list_templates(integration.config)
    except ProviderError as error:
        logger.warning("could not list templates", extra={"code": error.code})
        return 0
    changed = 0
    known = set()
    for report in reports:
        known.add((report.name, report.language))
        before = (
            TemplateBody.objects.filter(
                template__deleted_at__isnull=True,
                template__name=report.name,
                language=report.language,
            )
            .values_list("status", "rejection_reason")
            .first()
        )
        body = apply_template_status(report)
        if body is not None and before != (body.status, body.rejection_reason):
            changed += 1
    unknown = [
        body.pk
        for body in TemplateBody.objects.filter(
            template__deleted_at__isnull=True, provider_template_id=""
        )
        .exclude(status=TemplateStatus.PENDING)
        .select_related("template")
        if (body.template.name, body.language) not in known
        and body.status != TemplateStatus.REJECTED
    ]
    if unknown:
        TemplateBody.objects.filter(pk__in=unknown).update(
            status=TemplateStatus.PENDING, submitted_at=None, status_changed_at=timezone.now()
        )
    for body_id in _claim_bodies(TemplateBody.objects.all(), now=now):
        changed += _submit(integration, body_id)
    return changed
