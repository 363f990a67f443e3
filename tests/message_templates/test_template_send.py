"""Sending by template: rendered text, the reference kept, language chosen, variables checked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conversations.models import Message
from conversations.services import deliver_message
from engium.exceptions import TemplateLanguageUnavailable, TemplateNotFound
from message_templates.services import render_template
from tests.builders import create_integration, events_of
from tests.conftest import ApiClient, TenantFixture, error_of
from tests.fakes import FakeTwilio, form_of
from tests.message_templates.helpers import (
    ORDER_BODIES,
    VARIABLES,
    create_template_ok,
    send_template,
)


def test_a_spanish_template_sent_by_id_end_to_end(api: ApiClient, tenant_a: TenantFixture) -> None:
    template = create_template_ok(api, tenant_a)
    # when: the tenant sends it by ID, in Spanish, on the sandbox
    sent = send_template(
        api, tenant_a, {"id": template["id"], "language": "es", "variables": VARIABLES}
    )
    # then: the message holds the rendered Spanish text and the reference
    assert sent.status_code == 201, sent.content
    message = sent.json()["message"]
    assert message["text"] == "Hola Ana, tu pedido 42 ya salió."
    assert message["template"] == {"id": template["id"], "language": "es"}
    with tenant_a.schema():
        delivered = deliver_message(message["id"])
    assert delivered is not None and delivered.status == "sent"
    stored = api.get(f"messages/{message['id']}", tenant=tenant_a).json()
    assert stored["text"] == message["text"] and stored["template"] == message["template"]
    assert stored["status"] == "sent"
    # the event carries the message as the API answers it (status history aside)
    (event,) = events_of(tenant_a, "conversation.message.sent")
    answer = {key: value for key, value in stored.items() if key != "status_history"}
    assert event.data == answer


@pytest.mark.parametrize("language", sorted(ORDER_BODIES))
def test_every_language_is_rendered_byte_for_byte(
    api: ApiClient, tenant_a: TenantFixture, language: str
) -> None:
    template = create_template_ok(api, tenant_a)
    sent = send_template(
        api, tenant_a, {"id": template["id"], "language": language, "variables": VARIABLES}
    )
    assert sent.status_code == 201
    expected = ORDER_BODIES[language].replace("{{first_name}}", "Ana").replace("{{order_id}}", "42")
    text = sent.json()["message"]["text"]
    assert text.encode("utf-8") == expected.encode("utf-8")
    with tenant_a.schema():
        assert Message.objects.get(pk=sent.json()["message"]["id"]).text == expected


def test_language_fallback_chain(api: ApiClient, tenant_a: TenantFixture) -> None:
    template = create_template_ok(api, tenant_a, bodies={"en": "Hi {{n}}", "fr": "Salut {{n}}"})
    both = {"id": template["id"], "variables": {"n": "Ana"}}

    def chosen(requested: str | None, default: str) -> str:
        reference = {**both, "language": requested} if requested else both
        rendered = render_template(reference, default_language=default, require_approval=False)
        return rendered.reference["language"]

    with tenant_a.schema():
        assert chosen("fr", "es") == "fr"  # the requested language
        assert chosen("de", "fr") == "fr"  # not there: the tenant's default
        assert chosen(None, "fr") == "fr"  # none requested: the tenant's default
        assert chosen("de", "es") == "en"  # neither: English
        assert chosen(None, "hi") == "en"
        only_es = create_template_ok(api, tenant_a, name="only_es", bodies={"es": "Hola {{n}}"})
        with pytest.raises(TemplateLanguageUnavailable) as caught:
            render_template(
                {"id": only_es["id"], "language": "de", "variables": {"n": "x"}},
                default_language="fr",
                require_approval=False,
            )
    assert caught.value.field == "message.template.language"
    assert "de, fr, en" in caught.value.message and "it has es" in caught.value.message

    # through the API: German requested, the tenant's default (English) answers
    sent = send_template(api, tenant_a, {**both, "language": "de"})
    assert sent.status_code == 201
    assert sent.json()["message"]["template"]["language"] == "en"
    assert sent.json()["message"]["text"] == "Hi Ana"
    refused = send_template(api, tenant_a, {"id": only_es["id"], "variables": {"n": "x"}})
    assert refused.status_code == 400
    assert error_of(refused)["code"] == "template_language_unavailable"


def test_the_tenants_default_language_is_used(api: ApiClient, tenant_a: TenantFixture) -> None:
    template = create_template_ok(api, tenant_a)
    tenant_a.tenant.default_language = "pt_BR"
    tenant_a.tenant.save(update_fields=["default_language"])
    try:
        sent = send_template(api, tenant_a, {"id": template["id"], "variables": VARIABLES})
    finally:
        tenant_a.tenant.default_language = "en"
        tenant_a.tenant.save(update_fields=["default_language"])
    assert sent.status_code == 201, sent.content
    assert sent.json()["message"]["template"]["language"] == "pt_BR"
    assert sent.json()["message"]["text"] == "Olá Ana, seu pedido 42 foi enviado."


@pytest.mark.parametrize(
    ("variables", "field", "fields"),
    [
        (
            {"first_name": "Ana"},
            "message.template.variables.order_id",
            ["message.template.variables.order_id"],
        ),
        (
            {},
            "message.template.variables.first_name",
            ["message.template.variables.first_name", "message.template.variables.order_id"],
        ),
        (
            {**VARIABLES, "coupon": "X"},
            "message.template.variables.coupon",
            ["message.template.variables.coupon"],
        ),
    ],
)
def test_missing_and_unknown_variables_are_named(
    api: ApiClient,
    tenant_a: TenantFixture,
    variables: dict[str, str],
    field: str,
    fields: list[str],
) -> None:
    template = create_template_ok(api, tenant_a)
    sent = send_template(api, tenant_a, {"id": template["id"], "variables": variables})
    assert sent.status_code == 400
    error = error_of(sent)
    assert error["code"] == "validation_error" and error["field"] == field
    assert [detail["field"] for detail in error["details"]] == fields
    assert field.rsplit(".", 1)[1] in error["message"]
    with tenant_a.schema():
        assert not Message.objects.exists()  # nothing was sent


def test_unknown_and_deleted_templates_are_not_found(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    template = create_template_ok(api, tenant_a)
    sent = send_template(api, tenant_a, {"id": template["id"], "variables": VARIABLES})
    assert sent.status_code == 201
    assert api.delete(f"templates/{template['id']}", tenant=tenant_a).status_code == 204
    for reference in ({"id": template["id"], "variables": VARIABLES}, {"id": "tpl_nope"}):
        refused = send_template(api, tenant_a, reference)
        assert refused.status_code == 400
        error = error_of(refused)
        assert error["code"] == "template_not_found" and error["field"] == "message.template.id"
    # the message sent before keeps its reference
    kept = api.get(f"messages/{sent.json()['message']['id']}", tenant=tenant_a).json()
    assert kept["template"] == {"id": template["id"], "language": "en"}
    with tenant_a.schema(), pytest.raises(TemplateNotFound):
        render_template({"id": template["id"]}, default_language="en", require_approval=False)


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


def test_sms_gets_the_rendered_text(
    api: ApiClient, tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    create_integration(tenant_a, "sms", "twilio", is_default=True, **twilio_api.config())
    template = create_template_ok(api, tenant_a)
    sent = send_template(
        api,
        tenant_a,
        {"id": template["id"], "language": "hi", "variables": VARIABLES},
        channel="sms",
    )
    assert sent.status_code == 201, sent.content
    with tenant_a.schema():
        delivered = deliver_message(sent.json()["message"]["id"])
    assert delivered is not None and delivered.status == "sent", delivered and delivered.error_code
    (request,) = twilio_api.received
    assert form_of(request)["Body"] == "नमस्ते Ana, आपका ऑर्डर 42 भेज दिया गया है।"
