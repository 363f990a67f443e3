"""What an agent role says next: the model's answer when one is configured, else the
built-in agent's (`agents.builtin`), and the hand-off check that comes before either.

Plain data in, plain data out: the caller (`conversations.services.agent_turns`) reads the
role and the conversation, and sends what this returns.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from agents import builtin, llm
from agents.roles import RoleSpec, Turn

logger = logging.getLogger(__name__)

#: The longest reply sent (a message's text limit).
MAX_REPLY_CHARS = 4096


@dataclass(frozen=True)
class Reply:
    text: str
    #: ``llm``, ``knowledge``, ``greeting`` or ``fallback``
    source: str


def compose_reply(role: RoleSpec, history: Sequence[Turn], *, first_message: bool) -> Reply:
    """The agent's answer to the last turn of ``history`` (the customer's message).

    With ``ENGIUM_LLM_URL`` set, the model answers; if it fails in any way, the failure is
    logged and the built-in agent answers instead, so a customer is never left unanswered.
    """
    message = history[-1].text if history else ""
    if settings.ENGIUM_LLM_URL:
        try:
            text = llm.complete(
                role,
                history,
                url=settings.ENGIUM_LLM_URL,
                model=settings.ENGIUM_LLM_MODEL,
                api_key=settings.ENGIUM_LLM_API_KEY,
                timeout=settings.ENGIUM_LLM_TIMEOUT,
            )
            return Reply(text=text[:MAX_REPLY_CHARS], source="llm")
        except llm.LLMError as exc:
            logger.warning(
                "the language model failed; the built-in agent answers",
                extra={"reason": str(exc)},
            )
    answer = builtin.answer(role, message, first_message=first_message)
    return Reply(text=answer.text[:MAX_REPLY_CHARS], source=answer.source)


def handoff_keyword(role: RoleSpec, message: str) -> str | None:
    """The role's hand-off keyword ``message`` contains, if any."""
    return builtin.find_handoff_keyword(role.handoff_keywords, message)
