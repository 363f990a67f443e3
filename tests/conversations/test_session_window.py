"""WhatsApp's 24-hour customer-service window, checked on send for WhatsApp Cloud only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Message
from conversations.services import receive_message
from engium.timestamps import iso_time
from integrations.models import Integration
from integrations.providers.base import InboundMessage
from tests.builders import EXAMPLE_RECIPIENT, create_integration
from tests.conftest import ApiClient, TenantFixture, error_of
from tests.fakes import FakeGraph
from tests.message_templates.helpers import VARIABLES, create_template_ok, send_template


@pytest.fixture
def graph_api() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        yield server


def connect_cloud(tenant: TenantFixture, fake: FakeGraph, **config: object) -> Integration:
    return create_integration(
        tenant, "whatsapp", "whatsapp_cloud", is_default=True, **fake.config(**config)
    )


def wrote(tenant: TenantFixture, integration: Integration, *, hours_ago: float) -> Message:
    """The recipient's message, as if received ``hours_ago``."""
    with tenant.schema():
        message = receive_message(
            integration, InboundMessage(sender=EXAMPLE_RECIPIENT, text="Hi there")
        )
        at = timezone.now() - timedelta(hours=hours_ago)
        Message.objects.filter(pk=message.pk).update(created_at=at)
        message.created_at = at
    return message


def window_queries(queries: CaptureQueriesContext) -> list[str]:
    # (the send's one statement names 'inbound' too, for agent turns: it is not a window read)
    return [
        q["sql"]
        for q in queries.captured_queries
        if "'inbound'" in q["sql"] and not q["sql"].lstrip().startswith("WITH")
    ]


def record_statements(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().startswith("WITH")]


def test_a_recipient_who_never_wrote_gets_templates_only(
    api: ApiClient, tenant_a: TenantFixture, graph_api: FakeGraph
) -> None:
    connect_cloud(tenant_a, graph_api)
    with CaptureQueriesContext(connection) as queries:
        refused = api.send(tenant_a)
    assert refused.status_code == 400
    error = error_of(refused)
    assert error["code"] == "outside_session_window" and error["field"] == "message"
    assert "template" in error["message"] and "never written" in error["message"]
    assert "details" not in error
    assert len(window_queries(queries)) == 1 and not record_statements(queries)
    media = api.send(
        tenant_a,
        message={"media_url": "https://example.com/a.jpg", "media_type": "image"},
    )
    assert error_of(media)["code"] == "outside_session_window"
    with tenant_a.schema():
        assert not Message.objects.exists()

    # a template message is what opens the conversation
    template = create_template_ok(api, tenant_a)
    sent = send_template(api, tenant_a, {"id": template["id"], "variables": VARIABLES})
    assert sent.status_code == 201, sent.content


def test_within_24_hours_of_the_last_inbound_message_free_form_is_fine(
    api: ApiClient, tenant_a: TenantFixture, graph_api: FakeGraph
) -> None:
    integration = connect_cloud(tenant_a, graph_api)
    wrote(tenant_a, integration, hours_ago=30)
    wrote(tenant_a, integration, hours_ago=23.5)
    with CaptureQueriesContext(connection) as queries:
        sent = api.send(tenant_a)
    assert sent.status_code == 201, sent.content
    # one read before the send's one statement
    assert len(window_queries(queries)) == 1 and len(record_statements(queries)) == 1


def test_after_24_hours_the_answer_names_when_the_window_closed(
    api: ApiClient, tenant_a: TenantFixture, graph_api: FakeGraph
) -> None:
    integration = connect_cloud(tenant_a, graph_api)
    wrote(tenant_a, integration, hours_ago=40)
    last = wrote(tenant_a, integration, hours_ago=25)
    refused = api.send(tenant_a)
    assert refused.status_code == 400
    error = error_of(refused)
    closed_at = iso_time(last.created_at + timedelta(hours=24))
    assert error["code"] == "outside_session_window"
    assert closed_at and closed_at.endswith("Z")
    assert f"closed at {closed_at}" in error["message"] and "template" in error["message"]


def test_the_switch_turns_the_check_off(
    api: ApiClient, tenant_a: TenantFixture, graph_api: FakeGraph
) -> None:
    integration = connect_cloud(tenant_a, graph_api, session_window=False)
    assert integration.config["session_window"] is False
    with CaptureQueriesContext(connection) as queries:
        assert api.send(tenant_a).status_code == 201
    assert not window_queries(queries)
    # switched back on through the API: the routing follows at once
    changed = api.patch(
        f"integrations/{integration.id}",
        tenant=tenant_a,
        json_body={"config": {**graph_api.config(), "session_window": True}},
    )
    assert changed.status_code == 200, changed.content
    assert error_of(api.send(tenant_a))["code"] == "outside_session_window"


def test_the_sandbox_never_checks_it(api: ApiClient, tenant_a: TenantFixture) -> None:
    # the first-message example: a sandbox integration, a recipient who never wrote
    with CaptureQueriesContext(connection) as queries:
        sent = api.send(tenant_a)
    assert sent.status_code == 201
    assert not window_queries(queries) and len(record_statements(queries)) == 1
