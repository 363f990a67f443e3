"""WhatsApp's review of templates against a fake Graph API over real HTTP: submission,
the signed status webhook, the periodic sync, and sends refused until approved."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from conversations.services import deliver_message, process_callback
from integrations.models import CallbackState, Integration, ProviderCallback
from integrations.providers.whatsapp_cloud import hub_signature
from message_templates import services
from message_templates.models import TemplateBody
from message_templates.tasks import sync_templates
from tests.builders import create_integration
from tests.conftest import ApiClient, TenantFixture, error_of
from tests.fakes import APP_SECRET, BUSINESS_ACCOUNT_ID, PHONE_NUMBER_ID, FakeGraph, fixture
from tests.http_server import Received
from tests.message_templates.helpers import VARIABLES, create_template_ok, send_template

# Portuguese puts the order first: its parameters go in that order.
BODIES = {
    "en": "Hello {{first_name}}, your order {{order_id}} has shipped.",
    "pt_BR": "Pedido {{order_id}} enviado, {{first_name}}!",
}
TEMPLATES_PATH = f"/v21.0/{BUSINESS_ACCOUNT_ID}/message_templates"


@pytest.fixture
def graph_api() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        yield server


def connect_cloud(tenant: TenantFixture, fake: FakeGraph, **config: Any) -> Integration:
    return create_integration(
        tenant,
        "whatsapp",
        "whatsapp_cloud",
        is_default=True,
        **fake.config(business_account_id=BUSINESS_ACCOUNT_ID, **config),
    )


def bodies_of(tenant: TenantFixture, template_id: str) -> dict[str, TemplateBody]:
    with tenant.schema():
        return {b.language: b for b in TemplateBody.objects.filter(template_id=template_id)}


def submissions(fake: FakeGraph) -> list[Received]:
    return [r for r in fake.received if r.method == "POST" and r.path == TEMPLATES_PATH]


def post_meta(tenant: TenantFixture, integration: Integration, payload: Any, **kw: Any) -> Any:
    body = json.dumps(payload).encode()
    return Client().post(
        f"/callbacks/{tenant.id}/{integration.id}/events",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=hub_signature(kw.get("secret", APP_SECRET), body),
    )


def template_event(name: str, provider_id: str) -> Any:
    event = fixture("whatsapp_cloud", name)
    event["entry"][0]["changes"][0]["value"]["message_template_id"] = int(provider_id)
    return event


def process_all(tenant: TenantFixture) -> list[ProviderCallback]:
    with tenant.schema():
        done = [
            process_callback(pk) for pk in ProviderCallback.objects.values_list("pk", flat=True)
        ]
    return [callback for callback in done if callback is not None]


def submitted_template(
    api: ApiClient,
    tenant: TenantFixture,
    fake: FakeGraph,
    django_capture_on_commit_callbacks: Any,
) -> dict[str, Any]:
    """A template created through the API (no Graph call in the request), then submitted."""
    with django_capture_on_commit_callbacks() as callbacks:
        created = create_template_ok(api, tenant, bodies=BODIES, examples={"first_name": "Ana"})
    assert len(callbacks) == 1  # the submit task, published after commit
    assert not fake.received  # never an HTTP call inside the request
    assert {v["status"] for v in created["languages"].values()} == {"pending"}
    with tenant.schema():
        assert services.submit_template_bodies(created["id"]) == 2
        assert services.submit_template_bodies(created["id"]) == 0  # a duplicate task
    return created


def test_a_new_template_is_submitted_to_graph_per_language(
    api: ApiClient,
    tenant_a: TenantFixture,
    graph_api: FakeGraph,
    django_capture_on_commit_callbacks: Any,
) -> None:
    connect_cloud(tenant_a, graph_api)
    created = submitted_template(api, tenant_a, graph_api, django_capture_on_commit_callbacks)
    sent = {json.loads(r.body)["language"]: json.loads(r.body) for r in submissions(graph_api)}
    assert sent["pt_BR"] == {
        "name": "order_update",
        "language": "pt_BR",
        "category": "UTILITY",
        "components": [
            {
                "type": "BODY",
                "text": "Pedido {{1}} enviado, {{2}}!",
                "example": {"body_text": [["order_id", "Ana"]]},
            }
        ],
    }
    assert sent["en"]["components"][0]["text"] == "Hello {{1}}, your order {{2}} has shipped."
    bodies = bodies_of(tenant_a, created["id"])
    assert all(b.provider_template_id.isdigit() and b.submitted_at for b in bodies.values())
    assert {b.status for b in bodies.values()} == {"pending"}

    # a changed text goes back to review, as an edit of what Meta knows
    with tenant_a.schema():
        TemplateBody.objects.filter(template_id=created["id"]).update(status="approved")
    changed = api.patch(
        f"templates/{created['id']}",
        tenant=tenant_a,
        json_body={"bodies": {"pt_BR": "Olá {{first_name}}, pedido {{order_id}}."}},
    )
    assert changed.status_code == 200
    languages = changed.json()["languages"]
    assert languages["pt_BR"]["status"] == "pending" and languages["en"]["status"] == "approved"
    with tenant_a.schema():
        assert services.submit_template_bodies(created["id"]) == 1
    edit = graph_api.received[-1]
    assert edit.path == f"/v21.0/{bodies['pt_BR'].provider_template_id}"
    assert json.loads(edit.body)["components"][0]["text"] == "Olá {{1}}, pedido {{2}}."


def test_the_signed_status_webhook_approves_and_rejects(
    api: ApiClient,
    tenant_a: TenantFixture,
    graph_api: FakeGraph,
    django_capture_on_commit_callbacks: Any,
) -> None:
    integration = connect_cloud(tenant_a, graph_api)
    created = submitted_template(api, tenant_a, graph_api, django_capture_on_commit_callbacks)
    provider_id = bodies_of(tenant_a, created["id"])["pt_BR"].provider_template_id

    forged = post_meta(
        tenant_a, integration, template_event("template_status__approved", provider_id), secret="x"
    )
    assert forged.status_code == 403
    answer = post_meta(
        tenant_a, integration, template_event("template_status__approved", provider_id)
    )
    assert answer.status_code == 200
    (callback,) = process_all(tenant_a)
    assert callback.state == CallbackState.APPLIED
    detail = api.get(f"templates/{created['id']}", tenant=tenant_a).json()
    assert detail["languages"]["pt_BR"]["status"] == "approved"
    assert detail["languages"]["en"]["status"] == "pending"

    post_meta(tenant_a, integration, template_event("template_status__rejected", provider_id))
    process_all(tenant_a)
    rejected = api.get(f"templates/{created['id']}", tenant=tenant_a).json()["languages"]["pt_BR"]
    assert rejected["status"] == "rejected"
    assert rejected["rejection_reason"] == (
        "INVALID_FORMAT: Variable parameters are not allowed at the start of the body."
    )

    # a status about a template we do not have changes nothing and is noted
    unknown = template_event("template_status__approved", "1")
    unknown["entry"][0]["changes"][0]["value"]["message_template_name"] = "not_ours"
    post_meta(tenant_a, integration, unknown)
    with tenant_a.schema():
        ProviderCallback.objects.filter(state=CallbackState.APPLIED).delete()
    (ignored,) = process_all(tenant_a)
    assert ignored.state == CallbackState.IGNORED and "named no template" in ignored.notes


def test_sends_wait_for_approval_then_go_out_as_template_messages(
    api: ApiClient,
    tenant_a: TenantFixture,
    graph_api: FakeGraph,
    django_capture_on_commit_callbacks: Any,
) -> None:
    connect_cloud(tenant_a, graph_api)
    created = submitted_template(api, tenant_a, graph_api, django_capture_on_commit_callbacks)
    reference = {"id": created["id"], "language": "pt_BR", "variables": VARIABLES}
    refused = send_template(api, tenant_a, reference)
    assert refused.status_code == 400
    error = error_of(refused)
    assert error["code"] == "template_not_approved" and error["field"] == "message.template.id"
    assert "pt_BR" in error["message"] and "pending" in error["message"]

    body = bodies_of(tenant_a, created["id"])["pt_BR"]
    with tenant_a.schema():
        services.apply_template_status(
            services.TemplateStatusReport(
                status="approved", provider_template_id=body.provider_template_id
            )
        )
    # approved: sent, even to a recipient who never wrote (templates open the window)
    sent = send_template(api, tenant_a, reference)
    assert sent.status_code == 201, sent.content
    message = sent.json()["message"]
    assert message["text"] == "Pedido 42 enviado, Ana!"
    assert message["template"] == {"id": created["id"], "language": "pt_BR"}
    with tenant_a.schema():
        delivered = deliver_message(message["id"])
    assert delivered is not None and delivered.status == "sent"
    request = graph_api.received[-1]
    assert request.path == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    payload = json.loads(request.body)
    assert payload["type"] == "template" and "text" not in payload
    assert payload["template"] == {
        "name": "order_update",
        "language": {"code": "pt_BR"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "42"}, {"type": "text", "text": "Ana"}],
            }
        ],
    }


def test_the_periodic_sync_reads_statuses_and_submits_what_was_left(
    api: ApiClient,
    tenant_a: TenantFixture,
    graph_api: FakeGraph,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given: a template made before the business account was connected (approved, unknown
    # to Meta), and one whose submit task was lost
    early = create_template_ok(api, tenant_a, name="early_bird", bodies={"es": "Hola {{n}}"})
    assert early["languages"]["es"]["status"] == "approved"
    connect_cloud(tenant_a, graph_api)
    with django_capture_on_commit_callbacks(execute=False):
        lost = create_template_ok(api, tenant_a, bodies=BODIES)
    assert not graph_api.received
    # when: the sync runs (Graph lists the lost one's Portuguese body as already rejected)
    graph_api.templates = [
        {
            "name": "order_update",
            "language": "pt_BR",
            "status": "REJECTED",
            "id": "77",
            "rejected_reason": "INCORRECT_CATEGORY",
        },
    ]
    assert sync_templates() >= 3
    # then: every body was submitted once, the listing was read first
    assert graph_api.received[0].method == "GET"
    languages = sorted(json.loads(r.body)["language"] for r in submissions(graph_api))
    assert languages == ["en", "es", "pt_BR"]
    early_es = bodies_of(tenant_a, early["id"])["es"]
    assert early_es.status == "pending" and early_es.provider_template_id

    # when: Graph has reviewed them, the next sync brings the statuses home
    ids = {b.language: b.provider_template_id for b in bodies_of(tenant_a, lost["id"]).values()}
    graph_api.templates = [
        {"name": "order_update", "language": "en", "status": "APPROVED", "id": ids["en"]},
        {
            "name": "order_update",
            "language": "pt_BR",
            "status": "REJECTED",
            "id": ids["pt_BR"],
            "rejected_reason": "INCORRECT_CATEGORY",
        },
        {"name": "early_bird", "language": "es", "status": "APPROVED", "id": "99"},
        {"name": "someone_elses", "language": "en_US", "status": "APPROVED", "id": "98"},
    ]
    before = len(submissions(graph_api))
    sync_templates()
    assert len(submissions(graph_api)) == before  # nothing submitted twice
    lost_bodies = bodies_of(tenant_a, lost["id"])
    assert lost_bodies["en"].status == "approved"
    assert (lost_bodies["pt_BR"].status, lost_bodies["pt_BR"].rejection_reason) == (
        "rejected",
        "INCORRECT_CATEGORY",
    )
    assert bodies_of(tenant_a, early["id"])["es"].status == "approved"
