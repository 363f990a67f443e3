"""Agent roles answering inbound messages: once, in the same conversation, until a hand-off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from agents import phrases
from agents.models import AgentRole
from conversations import services
from conversations.models import AgentTurn, Conversation, ConversationStatus, Message
from conversations.payloads import conversation_payload
from engium.celery import app as celery_app
from tests.builders import events_of, post_inbound, send_ok
from tests.conftest import ApiClient, TenantFixture, error_of
from tests.engium.test_outbox import broker_down
from tests.http_server import Reply, ScriptedServer
from webhooks.models import EventType

CUSTOMER = "+15550108001"
KNOWLEDGE = [
    {"question": "¿Cuál es el horario de atención?", "answer": "Abrimos de 9 a 18 h."},
    {"question": "¿Cuánto cuesta el envío?", "answer": "El envío cuesta 5 €."},
]


def make_role(tenant: TenantFixture, *, is_default: bool = True, **fields: Any) -> AgentRole:
    values = {
        "name": "Ana",
        "instructions": "Atiende pedidos.",
        "language": "es",
        "greeting": "¡Hola! Soy Ana, ¿en qué te ayudo?",
        "handoff_keywords": ["humano", "human"],
        "knowledge": KNOWLEDGE,
        "is_default": is_default,
        **fields,
    }
    with tenant.schema():
        return AgentRole.objects.create(**values)


def write_in(api: ApiClient, tenant: TenantFixture, text: str, sender: str = CUSTOMER) -> str:
    response = post_inbound(api, tenant, **{"from": sender, "text": text})
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


def answer(tenant: TenantFixture, message_id: str) -> Message | None:
    with tenant.schema():
        return services.answer_inbound(message_id)


def conversation_of(tenant: TenantFixture, message_id: str) -> Conversation:
    with tenant.schema():
        return Message.objects.select_related("conversation").get(pk=message_id).conversation


def outbound_texts(tenant: TenantFixture, conversation_id: str) -> list[str]:
    with tenant.schema():
        return list(
            Message.objects.filter(conversation_id=conversation_id, direction="outbound")
            .order_by("id")
            .values_list("text", flat=True)
        )


def turn_of(tenant: TenantFixture, message_id: str) -> str:
    with tenant.schema():
        return str(Message.objects.get(pk=message_id).agent_turn)


@pytest.fixture
def agents_queue() -> Iterator[Any]:
    """The broker's ``agents`` list, read directly (our tasks are removed afterwards)."""
    with celery_app.connection_for_write() as connection:
        client = connection.default_channel.client
        before = set(client.lrange("agents", 0, -1))
        yield client
        for raw in client.lrange("agents", 0, -1):
            if raw not in before:
                client.lrem("agents", 1, raw)


def published_turns(client: Any, schema: str) -> list[list[Any]]:
    import base64

    found = []
    for raw in client.lrange("agents", 0, -1):
        message = json.loads(raw)
        if message["headers"].get("_schema_name") == schema:
            assert message["headers"]["task"] == services.ANSWER_INBOUND
            found.append(json.loads(base64.b64decode(message["body"]))[0])
    return found


# ------------------------------------------------------------------ answering


def test_an_inbound_message_owes_a_turn_published_on_the_agents_queue(
    api: ApiClient,
    tenant_a: TenantFixture,
    agents_queue: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_role(tenant_a)

    with django_capture_on_commit_callbacks(execute=True):  # as the view's commit would
        message_id = write_in(api, tenant_a, "¿Cuánto cuesta el envío?")

    assert turn_of(tenant_a, message_id) == AgentTurn.PENDING
    assert [message_id] in published_turns(agents_queue, tenant_a.tenant.schema_name)


def test_the_agent_answers_from_knowledge_in_the_same_conversation(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    make_role(tenant_a)
    message_id = write_in(api, tenant_a, "hola, ¿cuanto cuesta el ENVIO?")

    reply = answer(tenant_a, message_id)

    assert reply is not None
    conversation = conversation_of(tenant_a, message_id)
    assert reply.conversation_id == conversation.id
    assert (reply.direction, reply.status, reply.channel, reply.recipient) == (
        "outbound",
        "queued",
        "whatsapp",
        CUSTOMER,
    )
    assert reply.text == "El envío cuesta 5 €."
    assert reply.in_reply_to_id == message_id
    assert turn_of(tenant_a, message_id) == AgentTurn.ANSWERED
    # delivered like any send, and visible in the conversation
    with tenant_a.schema():
        services.deliver_message(reply.id)
    detail = api.get(f"conversations/{conversation.id}", tenant=tenant_a).json()
    assert [(m["direction"], m["text"]) for m in detail["messages"]] == [
        ("inbound", "hola, ¿cuanto cuesta el ENVIO?"),
        ("outbound", "El envío cuesta 5 €."),
    ]
    assert detail["messages"][1]["status"] == "sent"
    assert [e.type for e in events_of(tenant_a)][-1] == EventType.MESSAGE_SENT


def test_greeting_first_then_fallback_in_the_roles_language(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    make_role(tenant_a, language="pt_BR", greeting="Olá! Sou a Ana.", knowledge=[])
    first = write_in(api, tenant_a, "Oi")
    assert answer(tenant_a, first).text == "Olá! Sou a Ana."  # type: ignore[union-attr]

    second = write_in(api, tenant_a, "Vocês vendem bicicletas?")
    assert answer(tenant_a, second).text == phrases.FALLBACK["pt_BR"]  # type: ignore[union-attr]


def test_the_conversations_own_role_answers_rather_than_the_default(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    make_role(tenant_a, name="Default", greeting="Default here")
    own = make_role(tenant_a, is_default=False, name="Own", greeting="Own here", knowledge=[])
    sent = send_ok(api, tenant_a, recipient=CUSTOMER, agent_role_id=str(own.id))

    message_id = write_in(api, tenant_a, "hello")

    assert conversation_of(tenant_a, message_id).id == sent["id"]
    assert outbound_texts(tenant_a, sent["id"]) == [sent["message"]["text"]]
    assert answer(tenant_a, message_id).text == "Own here"  # type: ignore[union-attr]


def test_without_any_agent_role_no_turn_is_owed(api: ApiClient, tenant_a: TenantFixture) -> None:
    message_id = write_in(api, tenant_a, "hello")

    assert turn_of(tenant_a, message_id) == AgentTurn.NONE
    assert answer(tenant_a, message_id) is None


def test_outbound_messages_are_never_answered(api: ApiClient, tenant_a: TenantFixture) -> None:
    make_role(tenant_a)
    sent = send_ok(api, tenant_a, recipient=CUSTOMER)

    assert turn_of(tenant_a, sent["message"]["id"]) == AgentTurn.NONE
    assert answer(tenant_a, sent["message"]["id"]) is None
    assert outbound_texts(tenant_a, sent["id"]) == [sent["message"]["text"]]


def test_a_conversation_closed_before_the_turn_is_not_answered(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    make_role(tenant_a)
    message_id = write_in(api, tenant_a, "¿horario?")
    conversation = conversation_of(tenant_a, message_id)
    with tenant_a.schema():
        services.close_conversation(conversation.id)

    assert answer(tenant_a, message_id) is None
    assert turn_of(tenant_a, message_id) == AgentTurn.SKIPPED
    assert outbound_texts(tenant_a, conversation.id) == []


# ------------------------------------------------------------------ exactly once


def test_running_the_task_twice_answers_once(api: ApiClient, tenant_a: TenantFixture) -> None:
    make_role(tenant_a)
    message_id = write_in(api, tenant_a, "¿Cuál es el horario?")

    first = answer(tenant_a, message_id)
    second = answer(tenant_a, message_id)

    assert first is not None and second is None
    conversation = conversation_of(tenant_a, message_id)
    assert outbound_texts(tenant_a, conversation.id) == ["Abrimos de 9 a 18 h."]


def test_the_database_refuses_a_second_reply_even_if_the_turn_is_reopened(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    make_role(tenant_a)
    message_id = write_in(api, tenant_a, "¿Cuál es el horario?")
    assert answer(tenant_a, message_id) is not None

    # a worker whose lease ran out sees the turn pending again (simulated)
    with tenant_a.schema():
        Message.objects.filter(pk=message_id).update(
            agent_turn=AgentTurn.PENDING, agent_dispatched_at=None
        )
    assert answer(tenant_a, message_id) is None

    conversation = conversation_of(tenant_a, message_id)
    assert outbound_texts(tenant_a, conversation.id) == ["Abrimos de 9 a 18 h."]
    assert turn_of(tenant_a, message_id) == AgentTurn.ANSWERED
    with tenant_a.schema(), pytest.raises(IntegrityError), transaction.atomic():
        services.send_message(
            recipient=CUSTOMER,
            channel="whatsapp",
            content=services.MessageContent(text="again"),
            in_reply_to=message_id,
        )


def test_a_turn_held_by_another_worker_is_skipped(api: ApiClient, tenant_a: TenantFixture) -> None:
    from datetime import timedelta

    from django.utils import timezone

    make_role(tenant_a)
    message_id = write_in(api, tenant_a, "¿Cuál es el horario?")
    with tenant_a.schema():
        Message.objects.filter(pk=message_id).update(
            agent_dispatched_at=timezone.now() + timedelta(seconds=60)
        )

    assert answer(tenant_a, message_id) is None
    assert turn_of(tenant_a, message_id) == AgentTurn.PENDING


# ------------------------------------------------------------------ the outbox


def test_a_turn_whose_publish_failed_is_published_by_the_sweep(
    api: ApiClient,
    tenant_a: TenantFixture,
    monkeypatch: pytest.MonkeyPatch,
    agents_queue: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_role(tenant_a)
    with broker_down(monkeypatch), django_capture_on_commit_callbacks(execute=True):
        message_id = write_in(api, tenant_a, "¿horario?")
    with tenant_a.schema():
        assert Message.objects.get(pk=message_id).agent_dispatched_at is None
    assert [message_id] not in published_turns(agents_queue, tenant_a.tenant.schema_name)

    with tenant_a.schema():
        assert services.redispatch_pending_agent_turns() == 1
        assert services.redispatch_pending_agent_turns() == 0  # not twice in a row

    assert [message_id] in published_turns(agents_queue, tenant_a.tenant.schema_name)
    assert answer(tenant_a, message_id) is not None


# ------------------------------------------------------------------ hand-off


def test_a_handoff_keyword_hands_the_conversation_to_a_person(
    api: ApiClient, tenant_a: TenantFixture
) -> None:
    make_role(tenant_a)
    hello = write_in(api, tenant_a, "¿horario?")
    answer(tenant_a, hello)

    asking = write_in(api, tenant_a, "Quiero hablar con un HUMANO, por favor")
    acknowledgement = answer(tenant_a, asking)

    conversation = conversation_of(tenant_a, asking)
    assert conversation.status == ConversationStatus.PENDING_HUMAN
    assert turn_of(tenant_a, asking) == AgentTurn.HANDED_OFF
    assert acknowledgement is not None
    assert acknowledgement.text == phrases.HANDOFF_ACKNOWLEDGEMENT["es"]
    [handoff] = events_of(tenant_a, EventType.HANDOFF)
    # the conversation's public shape at the hand-off (the acknowledgement came after)
    at_handoff = {**conversation_payload(conversation), "last_activity_at": None}
    assert {**handoff.data, "last_activity_at": None} == at_handoff
    assert handoff.data["status"] == "pending_human"

    # then the agent stays silent
    later = write_in(api, tenant_a, "¿Cuánto cuesta el envío?")
    assert turn_of(tenant_a, later) == AgentTurn.NONE
    assert answer(tenant_a, later) is None
    assert outbound_texts(tenant_a, conversation.id) == [
        "Abrimos de 9 a 18 h.",
        phrases.HANDOFF_ACKNOWLEDGEMENT["es"],
    ]


def test_resume_agent_hands_the_conversation_back(api: ApiClient, tenant_a: TenantFixture) -> None:
    make_role(tenant_a)
    asking = write_in(api, tenant_a, "human")
    answer(tenant_a, asking)
    conversation_id = conversation_of(tenant_a, asking).id

    resumed = api.post(f"conversations/{conversation_id}/resume-agent", tenant=tenant_a)

    assert resumed.status_code == 200, resumed.content
    assert resumed.json()["status"] == "active" and resumed.json()["id"] == conversation_id
    again = api.post(f"conversations/{conversation_id}/resume-agent", tenant=tenant_a)
    assert again.status_code == 409
    assert error_of(again)["code"] == "conversation_not_pending_human"

    question = write_in(api, tenant_a, "¿cuánto cuesta el envío?")
    assert answer(tenant_a, question).text == "El envío cuesta 5 €."  # type: ignore[union-attr]


def test_resume_agent_refuses_closed_and_unknown_conversations(
    api: ApiClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    sent = send_ok(api, tenant_a, recipient=CUSTOMER)
    path = f"conversations/{sent['id']}/resume-agent"
    active = api.post(path, tenant=tenant_a)
    assert active.status_code == 409
    assert error_of(active)["code"] == "conversation_not_pending_human"
    api.post(f"conversations/{sent['id']}/close", tenant=tenant_a)
    assert api.post(path, tenant=tenant_a).status_code == 409
    assert api.post(path, tenant=tenant_b).status_code == 404
    missing = api.post(
        "conversations/sess_00000000000000000000000000/resume-agent", tenant=tenant_a
    )
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


# ------------------------------------------------------------------ the model


def test_with_a_model_configured_its_answer_is_sent(
    api: ApiClient, tenant_a: TenantFixture, settings: Any
) -> None:
    make_role(tenant_a)
    sent = send_ok(api, tenant_a, recipient=CUSTOMER, message={"text": "Tu pedido salió hoy."})
    with ScriptedServer() as model:
        model.default = Reply(
            body={"choices": [{"message": {"role": "assistant", "content": "Llega mañana."}}]}
        )
        settings.ENGIUM_LLM_URL = model.url
        settings.ENGIUM_LLM_TIMEOUT = 2.0
        message_id = write_in(api, tenant_a, "¿Cuándo llega?")

        reply = answer(tenant_a, message_id)

    assert reply is not None and reply.text == "Llega mañana."
    messages = json.loads(model.received[0].body)["messages"]
    assert messages[0]["role"] == "system" and "Atiende pedidos." in messages[0]["content"]
    assert messages[1:] == [
        {"role": "assistant", "content": "Tu pedido salió hoy."},
        {"role": "user", "content": "¿Cuándo llega?"},
    ]
    assert outbound_texts(tenant_a, sent["id"]) == ["Tu pedido salió hoy.", "Llega mañana."]


def test_a_model_that_times_out_leaves_the_answer_to_the_builtin_agent(
    api: ApiClient, tenant_a: TenantFixture, settings: Any
) -> None:
    make_role(tenant_a)
    with ScriptedServer() as model:
        model.default = Reply(body={"choices": []}, delay=2.0)
        settings.ENGIUM_LLM_URL = model.url
        settings.ENGIUM_LLM_TIMEOUT = 0.5
        message_id = write_in(api, tenant_a, "¿cuánto cuesta el envío?")

        reply = answer(tenant_a, message_id)

    assert reply is not None and reply.text == "El envío cuesta 5 €."
    assert len(model.received) == 1


# ------------------------------------------------------------------ provider callbacks


def test_a_whatsapp_cloud_inbound_is_answered_through_graph(
    tenant_a: TenantFixture, django_capture_on_commit_callbacks: Any, agents_queue: Any
) -> None:
    from tests.conversations.test_provider_callbacks import post_meta, process_all, whatsapp_cloud
    from tests.fakes import FakeGraph, fixture

    make_role(
        tenant_a,
        language="en",
        knowledge=[{"question": "Where is my order?", "answer": "It ships today."}],
    )
    with FakeGraph() as graph:
        meta = whatsapp_cloud(tenant_a, graph)
        assert (
            post_meta(tenant_a, meta, fixture("whatsapp_cloud", "inbound__text")).status_code == 200
        )
        with django_capture_on_commit_callbacks(execute=True):
            process_all(tenant_a)
        with tenant_a.schema():
            inbound = Message.objects.get(direction="inbound")
        assert inbound.agent_turn == AgentTurn.PENDING
        assert [inbound.id] in published_turns(agents_queue, tenant_a.tenant.schema_name)

        reply = answer(tenant_a, inbound.id)
        assert reply is not None and reply.text == "It ships today."
        assert reply.integration_id == meta.id
        with tenant_a.schema():
            services.deliver_message(reply.id)

    [sent] = [r for r in graph.received if r.path.endswith("/messages")]
    body = json.loads(sent.body)
    assert body["to"].lstrip("+") == "15550102999"
    assert body["text"]["body"] == "It ships today."
