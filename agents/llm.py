"""An OpenAI-compatible chat-completions client, and the prompt it sends.

``POST {ENGIUM_LLM_URL}/chat/completions`` with ``{"model", "messages"}``: one system
message (the role's instructions, language and knowledge entries), then the conversation's
recent messages as ``user`` (the customer) and ``assistant`` (us) turns. Any failure
(timeout, connection error, non-2xx, an answer without text) raises `LLMError`; the caller
falls back to the built-in agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from agents.roles import RoleSpec, Turn
from tenants.models import Language

#: How much of the knowledge base, and of each message, the prompt carries.
MAX_KNOWLEDGE_CHARS = 12_000
MAX_TURN_CHARS = 2_000


class LLMError(Exception):
    """The model did not answer usefully; the message says why (for the log)."""


def system_prompt(role: RoleSpec) -> str:
    language = Language(role.language).label if role.language in Language.values else "English"
    parts = [
        f"You are {role.name}, answering customers on a messaging channel on behalf of a "
        "business. Keep answers short, as a chat message.",
        f"Answer in {language} unless the customer writes in another language.",
        f"Instructions:\n{role.instructions.strip()}",
    ]
    if role.knowledge:
        lines: list[str] = []
        used = 0
        for entry in role.knowledge:
            line = f"Q: {entry.question.strip()}\nA: {entry.answer.strip()}"
            if used + len(line) > MAX_KNOWLEDGE_CHARS:
                break
            lines.append(line)
            used += len(line)
        parts.append(
            "Knowledge (prefer these answers where they apply; do not invent facts):\n"
            + "\n\n".join(lines)
        )
    return "\n\n".join(parts)


def chat_messages(role: RoleSpec, history: Sequence[Turn]) -> list[dict[str, str]]:
    """The ``messages`` of the request: the system prompt, then ``history``, oldest first."""
    messages = [{"role": "system", "content": system_prompt(role)}]
    messages += [
        {"role": turn.speaker, "content": turn.text[:MAX_TURN_CHARS]}
        for turn in history
        if turn.text.strip()
    ]
    return messages


def complete(
    role: RoleSpec,
    history: Sequence[Turn],
    *,
    url: str,
    model: str,
    api_key: str = "",
    timeout: float,
) -> str:
    """The model's answer to the conversation so far; raises `LLMError` on any failure."""
    endpoint = f"{url.rstrip('/')}/chat/completions"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    body: dict[str, Any] = {"model": model, "messages": chat_messages(role, history)}
    try:
        response = httpx.post(endpoint, json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise LLMError(f"{type(exc).__name__}: {exc}") from exc
    if not response.is_success:
        raise LLMError(f"the model answered HTTP {response.status_code}")
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LLMError("the model's answer is not a chat completion") from exc
    if not isinstance(content, str) or not content.strip():
        raise LLMError("the model's answer has no text")
    return content.strip()
