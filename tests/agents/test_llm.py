"""The model path: an OpenAI-compatible server on 127.0.0.1, over real HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents import phrases
from agents.replies import compose_reply
from agents.roles import KnowledgeEntry, RoleSpec, Turn
from tests.http_server import Received, Reply, ScriptedServer

ROLE = RoleSpec(
    name="Ana",
    instructions="You help customers of Acme Shoes.",
    language="es",
    greeting="¡Hola! Soy Ana.",
    knowledge=(KnowledgeEntry("¿Cuánto cuesta el envío?", "El envío cuesta 5 €."),),
)
HISTORY = [
    Turn("user", "Hola"),
    Turn("assistant", "¡Hola! Soy Ana."),
    Turn("user", "¿Tienen zapatos rojos?"),
]


def completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
    }


@pytest.fixture
def model(settings: Any) -> Any:
    with ScriptedServer() as server:
        server.default = Reply(body=completion("Sí, en todas las tallas."))
        settings.ENGIUM_LLM_URL = f"{server.url}/v1"
        settings.ENGIUM_LLM_MODEL = "acme-chat"
        settings.ENGIUM_LLM_API_KEY = "sk-test-123"
        settings.ENGIUM_LLM_TIMEOUT = 1.0
        yield server


def request_of(received: Received) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(received.body)
    return body


def test_the_model_is_asked_with_instructions_knowledge_and_history(model: ScriptedServer) -> None:
    reply = compose_reply(ROLE, HISTORY, first_message=False)

    assert (reply.source, reply.text) == ("llm", "Sí, en todas las tallas.")
    [call] = model.received
    assert (call.method, call.path) == ("POST", "/v1/chat/completions")
    assert call.headers["Authorization"] == "Bearer sk-test-123"
    sent = request_of(call)
    assert sent["model"] == "acme-chat"
    system, *turns = sent["messages"]
    assert system["role"] == "system"
    assert "You help customers of Acme Shoes." in system["content"]
    assert "Spanish" in system["content"]
    assert "¿Cuánto cuesta el envío?" in system["content"]
    assert "El envío cuesta 5 €." in system["content"]
    assert turns == [
        {"role": "user", "content": "Hola"},
        {"role": "assistant", "content": "¡Hola! Soy Ana."},
        {"role": "user", "content": "¿Tienen zapatos rojos?"},
    ]


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(Reply(body=completion("too late"), delay=3.0), id="timeout"),
        pytest.param(Reply(status=500, body={"error": "overloaded"}), id="5xx"),
        pytest.param(Reply(status=401, body={"error": "bad key"}), id="4xx"),
        pytest.param(Reply(body={"choices": []}), id="no-choices"),
        pytest.param(Reply(body=["not", "an", "object"]), id="bad-shape"),
        pytest.param(Reply(body=completion("   ")), id="empty-text"),
    ],
)
def test_any_failure_of_the_model_falls_back_to_the_builtin_agent(
    model: ScriptedServer, failure: Reply, caplog: pytest.LogCaptureFixture
) -> None:
    model.replies.append(failure)

    reply = compose_reply(ROLE, [Turn("user", "¿cuánto cuesta el envío?")], first_message=True)

    assert (reply.source, reply.text) == ("knowledge", "El envío cuesta 5 €.")
    assert len(model.received) == 1
    assert "the language model failed" in caplog.text


def test_an_unreachable_model_falls_back_too(settings: Any) -> None:
    with ScriptedServer() as server:
        url = server.url
    settings.ENGIUM_LLM_URL = url  # nothing listens there any more
    settings.ENGIUM_LLM_TIMEOUT = 1.0

    reply = compose_reply(ROLE, [Turn("user", "nada que ver")], first_message=False)

    assert (reply.source, reply.text) == ("fallback", phrases.FALLBACK["es"])


def test_without_a_model_url_the_builtin_agent_answers(settings: Any) -> None:
    settings.ENGIUM_LLM_URL = ""
    reply = compose_reply(ROLE, [Turn("user", "Buenas")], first_message=True)
    assert (reply.source, reply.text) == ("greeting", "¡Hola! Soy Ana.")
