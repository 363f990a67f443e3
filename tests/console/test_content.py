"""Templates and agent roles in the console: each role reads, developers and up manage,
the services' own validation shows on the form, and Arabic is kept and shown right to left."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.test import Client

from agents.models import AgentRole
from message_templates.models import Template, TemplateBody, TemplateStatus
from message_templates.services import create_template
from tenants.models import Role
from tests.conftest import TenantFixture

pytestmark = pytest.mark.django_db

ARABIC = "مرحبا {{first_name}}،\r\nطلبك ‏#{{order}}‏ جاهز. 🎉"
ENGLISH = "Hi {{first_name}}, order {{order}} is ready."


def _template_form(**overrides: str) -> dict[str, str]:
    data = {"name": "order_ready", "category": "utility", "body_en": ENGLISH, "body_ar": ARABIC}
    data.update(overrides)
    return data


def _role_form(**overrides: str) -> dict[str, str]:
    data = {
        "name": "Support",
        "instructions": "Answer questions about orders.",
        "language": "en",
        "greeting": "Hello!",
        "handoff_keywords": "human\nagente\n",
        "knowledge-0-question": "When do you open?",
        "knowledge-0-answer": "At nine.",
        "knowledge-1-question": "",
        "knowledge-1-answer": "",
    }
    data.update(overrides)
    return data


@pytest.fixture
def stored(tenant_a: TenantFixture) -> tuple[Template, AgentRole]:
    """A template with a rejected Arabic body, and an agent role, in tenant A."""
    with tenant_a.schema():
        template = create_template(
            name="welcome",
            category="marketing",
            bodies={"en": "Hi {{name}}", "ar": "أهلا {{name}}"},
        )
        TemplateBody.objects.filter(template=template, language="ar").update(
            status=TemplateStatus.REJECTED, rejection_reason="Looks like spam"
        )
        role = AgentRole.objects.create(
            name="Sales",
            instructions="Sell.",
            language="es",
            knowledge=[{"question": "Price?", "answer": "Ten."}],
            is_default=True,
        )
    return template, role


@pytest.mark.parametrize("role", Role.values)
def test_every_role_reads_templates_and_agent_roles(
    member: Callable[[str], Client], role: str, stored: tuple[Template, AgentRole]
) -> None:
    template, agent_role = stored
    client = member(role)
    listed = client.get("/console/settings/templates/").content.decode()
    assert "welcome" in listed and "Looks like spam" in listed and "ar · Rejected" in listed
    detail = client.get(f"/console/settings/templates/{template.id}/").content.decode()
    assert "أهلا" in detail and "Looks like spam" in detail
    roles = client.get("/console/settings/agent-roles/").content.decode()
    assert "Sales" in roles and ">default<" in roles
    page = client.get(f"/console/settings/agent-roles/{agent_role.id}/").content.decode()
    assert "Price?" in page
    manages = role != Role.VIEWER
    assert ("Save template" in detail) is manages
    assert ("Save agent role" in page) is manages


def test_a_viewer_posts_are_refused_and_nothing_changes(
    viewer: Client, tenant_a: TenantFixture, stored: tuple[Template, AgentRole]
) -> None:
    template, role = stored
    writes = [
        ("/console/settings/templates/", _template_form()),
        (f"/console/settings/templates/{template.id}/", _template_form(name="welcome")),
        (f"/console/settings/templates/{template.id}/delete", {}),
        ("/console/settings/agent-roles/", _role_form()),
        (f"/console/settings/agent-roles/{role.id}/", _role_form()),
        (f"/console/settings/agent-roles/{role.id}/make-default", {}),
        (f"/console/settings/agent-roles/{role.id}/delete", {}),
    ]
    with tenant_a.schema():
        bodies_before = list(TemplateBody.objects.values_list("language", "text", "status"))
        roles_before = list(AgentRole.objects.values_list("name", "instructions", "knowledge"))

    for url, data in writes:
        assert viewer.post(url, data).status_code == 403, url

    with tenant_a.schema():
        assert Template.objects.filter(deleted_at__isnull=True).count() == 1
        assert list(TemplateBody.objects.values_list("language", "text", "status")) == bodies_before
        assert list(AgentRole.objects.values_list("name", "instructions", "knowledge")) == (
            roles_before
        )


def test_a_developer_creates_edits_and_deletes_a_template(
    member: Callable[[str], Client], tenant_a: TenantFixture
) -> None:
    developer = member(Role.DEVELOPER)

    # when: created with an English and an Arabic body
    created = developer.post("/console/settings/templates/", _template_form())

    # then: the Arabic body is kept byte for byte, and shown right to left
    assert created.status_code == 302
    with tenant_a.schema():
        template = Template.objects.get(name="order_ready")
        bodies = {b.language: b for b in template.bodies.all()}
    assert bodies["ar"].text.encode() == ARABIC.encode()
    assert bodies["ar"].variables == ["first_name", "order"]
    assert bodies["en"].status == TemplateStatus.APPROVED  # no WhatsApp review here
    page = developer.get(created["Location"]).content.decode()
    textarea = re.search(r"<textarea[^>]*name=\"body_ar\"[^>]*>", page)
    assert textarea and 'dir="rtl"' in textarea.group(0) and 'lang="ar"' in textarea.group(0)
    preview = re.search(
        r'<div class="preview" lang="ar" dir="rtl" data-preview>(.*?)</div>', page, re.S
    )
    assert preview and "<mark>{{first_name}}</mark>" in preview.group(1)
    assert "<code>first_name</code>, <code>order</code>" in page

    # when: edited: the Arabic body removed, a Spanish one added
    edited = developer.post(
        f"/console/settings/templates/{template.id}/",
        {"category": "utility", "body_en": ENGLISH, "body_es": "Hola {{first_name}}, {{order}}."},
    )
    assert edited.status_code == 302
    with tenant_a.schema():
        assert set(template.bodies.values_list("language", flat=True)) == {"en", "es"}

    # when: deleted
    deleted = developer.post(f"/console/settings/templates/{template.id}/delete")
    assert deleted.status_code == 302
    with tenant_a.schema():
        assert Template.objects.get(pk=template.id).deleted_at is not None
    listed = developer.get("/console/settings/templates/").content.decode()
    assert 'data-template="order_ready"' not in listed and "No templates yet." in listed


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "Order Ready"}, "name", "lowercase letters"),
        ({"body_ar": "مرحبا {{first_name}}"}, "body_ar", "lacks order"),
        ({"body_en": "Hi {{first name}}"}, "body_en", "is not a valid variable"),
        ({"body_en": "", "body_ar": ""}, None, "at least one language"),
        ({"body_es": "x" * 1025}, "body_es", "at most 1024"),
    ],
)
def test_a_bad_template_shows_the_error_on_its_field_and_changes_nothing(
    owner: Client, tenant_a: TenantFixture, data: dict[str, str], field: str | None, message: str
) -> None:
    answer = owner.post("/console/settings/templates/", _template_form(**data))
    assert answer.status_code == 400
    form = answer.context["form"]
    errors = form.errors.get(field) if field else form.non_field_errors()
    assert errors and message in " ".join(errors), form.errors
    assert 'role="alert"' in answer.content.decode()
    with tenant_a.schema():
        assert not Template.objects.exists()


def test_a_template_name_in_use_is_refused_on_the_name(
    owner: Client, stored: tuple[Template, AgentRole]
) -> None:
    answer = owner.post("/console/settings/templates/", _template_form(name="welcome"))
    assert answer.status_code == 400
    assert "exists already" in " ".join(answer.context["form"].errors["name"])


def test_an_admin_creates_edits_makes_default_and_deletes_an_agent_role(
    member: Callable[[str], Client], tenant_a: TenantFixture, stored: tuple[Template, AgentRole]
) -> None:
    admin = member(Role.ADMIN)
    _, sales = stored

    # when: created with one knowledge entry (the blank row is dropped)
    created = admin.post("/console/settings/agent-roles/", _role_form())
    assert created.status_code == 302
    with tenant_a.schema():
        support = AgentRole.objects.get(name="Support")
    assert support.knowledge == [{"question": "When do you open?", "answer": "At nine."}]
    assert support.handoff_keywords == ["human", "agente"] and not support.is_default
    page = admin.get(created["Location"]).content.decode()
    assert 'name="knowledge-0-question"' in page and 'name="knowledge-2-question"' in page

    # when: edited: the entry removed (cleared), two added
    edited = admin.post(
        f"/console/settings/agent-roles/{support.id}/",
        _role_form(
            **{
                "knowledge-0-question": "",
                "knowledge-0-answer": "",
                "knowledge-1-question": "Where?",
                "knowledge-1-answer": "Lisbon.",
                "knowledge-7-question": "Who?",
                "knowledge-7-answer": "Us.",
                "handoff_keywords": "Human\nhuman\n",
            }
        ),
    )
    assert edited.status_code == 302
    with tenant_a.schema():
        support.refresh_from_db()
    assert support.knowledge == [
        {"question": "Where?", "answer": "Lisbon."},
        {"question": "Who?", "answer": "Us."},
    ]
    assert support.handoff_keywords == ["Human"]  # the API's rule: one keyword once

    # when: made the default, then deleted
    assert admin.post(f"/console/settings/agent-roles/{support.id}/make-default").status_code == 302
    with tenant_a.schema():
        assert list(AgentRole.objects.filter(is_default=True)) == [support]
        sales.refresh_from_db()
        assert not sales.is_default
    assert admin.post(f"/console/settings/agent-roles/{support.id}/delete").status_code == 302
    with tenant_a.schema():
        assert list(AgentRole.objects.values_list("name", flat=True)) == ["Sales"]


def test_the_first_agent_role_is_the_default(owner: Client, tenant_a: TenantFixture) -> None:
    assert owner.post("/console/settings/agent-roles/", _role_form()).status_code == 302
    with tenant_a.schema():
        assert AgentRole.objects.get().is_default


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "   "}, "name", "blank"),
        ({"instructions": "x" * 8001}, "instructions", "8000"),
        ({"handoff_keywords": "human\n!!!"}, "handoff_keywords", "needs a letter or a digit"),
        ({"knowledge-0-answer": ""}, "knowledge-0-answer", "blank"),
        ({"knowledge-1-question": "Only a question?"}, "knowledge-1-answer", "blank"),
        ({"language": "xx"}, "language", "valid choice"),
    ],
)
def test_a_bad_agent_role_shows_the_error_on_its_field_and_changes_nothing(
    owner: Client, tenant_a: TenantFixture, data: dict[str, str], field: str, message: str
) -> None:
    answer = owner.post("/console/settings/agent-roles/", _role_form(**data))
    assert answer.status_code == 400
    errors = answer.context["form"].errors
    assert message in " ".join(errors.get(field, [])), errors
    with tenant_a.schema():
        assert not AgentRole.objects.exists()


def test_too_many_knowledge_entries_are_refused_not_dropped(
    owner: Client, tenant_a: TenantFixture
) -> None:
    rows = {
        f"knowledge-{i}-{part}": f"{part} {i}"
        for i in range(201)
        for part in ("question", "answer")
    }
    answer = owner.post("/console/settings/agent-roles/", _role_form(**rows))
    assert answer.status_code == 400
    assert "200" in " ".join(answer.context["form"].non_field_errors())
    with tenant_a.schema():
        assert not AgentRole.objects.exists()


def test_another_tenants_template_and_role_are_not_found(
    owner: Client, tenant_b: TenantFixture
) -> None:
    with tenant_b.schema():
        template = create_template(name="theirs", category="utility", bodies={"en": "Hi"})
        role = AgentRole.objects.create(name="Theirs", instructions="x")
    assert owner.get(f"/console/settings/templates/{template.id}/").status_code == 404
    assert owner.post(f"/console/settings/templates/{template.id}/delete").status_code == 404
    assert owner.get(f"/console/settings/agent-roles/{role.id}/").status_code == 404
    assert owner.post(f"/console/settings/agent-roles/{role.id}/delete").status_code == 404
    with tenant_b.schema():
        assert AgentRole.objects.filter(pk=role.id).exists()
