"""An agent role answering through the real stack: sandbox inbound → worker on ``agents`` →
a reply delivered in the same conversation; hand-off, silence, and resume."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Stack, Tenant, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]

CUSTOMER = "+15550109101"
ROLE = {
    "name": "Ana",
    "instructions": "Atiende a los clientes de la tienda.",
    "language": "es",
    "greeting": "¡Hola! Soy Ana.",
    "handoff_keywords": ["humano"],
    "knowledge": [
        {"question": "¿Cuál es el horario de atención?", "answer": "Abrimos de 9 a 18 h."},
        {"question": "¿Cuánto cuesta el envío?", "answer": "El envío cuesta 5 €."},
    ],
    "is_default": True,
}


def _whatsapp_integration(tenant: Tenant) -> str:
    answer = tenant.client.get("integrations", params={"channel": "whatsapp"})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["data"][0]["id"])


def _write_in(tenant: Tenant, integration_id: str, text: str) -> dict[str, Any]:
    answer = tenant.client.post(
        f"integrations/{integration_id}/sandbox/inbound", json={"from": CUSTOMER, "text": text}
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _conversation(tenant: Tenant, conversation_id: str) -> dict[str, Any]:
    answer = tenant.client.get(f"conversations/{conversation_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _outbound(tenant: Tenant, conversation_id: str) -> list[dict[str, Any]]:
    messages = _conversation(tenant, conversation_id)["messages"]
    return [m for m in messages if m["direction"] == "outbound"]


def test_the_agent_answers_hands_off_and_resumes(stack: Stack, live_tenant: Tenant) -> None:
    role = live_tenant.client.post("agent-roles", json=ROLE)
    assert role.status_code == 201, role.text
    integration_id = _whatsapp_integration(live_tenant)

    try:
        # a question: the worker answers from the knowledge, and the answer is delivered
        question = _write_in(live_tenant, integration_id, "Hola, ¿cuánto cuesta el envío?")
        conversation_id = question["conversation_id"]
        delivered = wait_until(
            lambda: [
                m
                for m in _outbound(live_tenant, conversation_id)
                if m["status"] in {"delivered", "read"}
            ],
            30,
            "the agent's answer delivered",
        )
        assert [m["text"] for m in delivered] == ["El envío cuesta 5 €."]
        steps = [s["status"] for s in delivered[0]["status_history"]]
        assert steps[:3] == ["queued", "sending", "sent"]

        # "humano": handed to a person, acknowledged once
        _write_in(live_tenant, integration_id, "quiero hablar con un humano")
        wait_until(
            lambda: _conversation(live_tenant, conversation_id)["status"] == "pending_human",
            30,
            "handed off",
        )
        wait_until(lambda: len(_outbound(live_tenant, conversation_id)) == 2, 30, "acknowledged")

        # while a person has it, the agent owes nothing
        silent = _write_in(live_tenant, integration_id, "¿cuál es el horario?")
        assert _agent_turn(live_tenant, silent["id"]) == ""

        # handed back: the agent answers the next message
        resumed = live_tenant.client.post(f"conversations/{conversation_id}/resume-agent")
        assert resumed.status_code == 200 and resumed.json()["status"] == "active", resumed.text
        _write_in(live_tenant, integration_id, "¿cuál es el horario de atención?")
        answers = wait_until(
            lambda: (
                (found := _outbound(live_tenant, conversation_id)) and len(found) == 3 and found
            ),
            30,
            "answered after resume",
        )
    except AssertionError:
        print(stack.logs())
        raise
    assert answers[-1]["text"] == "Abrimos de 9 a 18 h."
    assert _event_types(live_tenant).count("conversation.handoff") == 1


def _agent_turn(tenant: Tenant, message_id: str) -> str:
    from django_tenants.utils import schema_context

    from conversations.models import Message
    from tenants.models import Tenant as TenantModel

    schema = TenantModel.objects.get(public_id=tenant.id).schema_name
    with schema_context(schema):
        return str(Message.objects.get(pk=message_id).agent_turn)


def _event_types(tenant: Tenant) -> list[str]:
    from django_tenants.utils import schema_context

    from tenants.models import Tenant as TenantModel
    from webhooks.models import Event

    schema = TenantModel.objects.get(public_id=tenant.id).schema_name
    with schema_context(schema):
        return list(Event.objects.order_by("id").values_list("type", flat=True))


def test_an_inbound_message_received_while_the_broker_is_down_is_answered_after(
    stack: Stack, live_tenant: Tenant
) -> None:
    role = live_tenant.client.post("agent-roles", json=ROLE)
    assert role.status_code == 201, role.text
    integration_id = _whatsapp_integration(live_tenant)

    stack.broker.stop()
    try:
        question = _write_in(live_tenant, integration_id, "¿Cuál es el horario de atención?")
    finally:
        stack.broker.start()

    # the sweep publishes the turn once the broker is back; the agent answers exactly once
    # (a worker that died of the lost connection is started again, as its supervisor would)
    conversation_id = question["conversation_id"]

    def answered() -> Any:
        stack.revive()
        return _outbound(live_tenant, conversation_id)

    try:
        answers = wait_until(answered, 60, "answered after the outage")
    except AssertionError:
        print(stack.logs())
        raise
    assert [m["text"] for m in answers] == ["Abrimos de 9 a 18 h."]
    assert _agent_turn(live_tenant, question["id"]) == "answered"
