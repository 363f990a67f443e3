"""An agent role as plain data: what the agents' logic needs, detached from the database.

The conversations app reads a role and a conversation's recent messages, and hands them to
`agents.replies` as these values; nothing in the agents' logic touches a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agents.models import AgentRole


@dataclass(frozen=True)
class KnowledgeEntry:
    question: str
    answer: str


@dataclass(frozen=True)
class RoleSpec:
    name: str
    instructions: str
    language: str = "en"
    greeting: str = ""
    handoff_keywords: tuple[str, ...] = ()
    knowledge: tuple[KnowledgeEntry, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, role: AgentRole) -> RoleSpec:
        return cls(
            name=role.name,
            instructions=role.instructions,
            language=role.language,
            greeting=role.greeting,
            handoff_keywords=tuple(str(k) for k in role.handoff_keywords or ()),
            knowledge=tuple(
                KnowledgeEntry(question=str(e["question"]), answer=str(e["answer"]))
                for e in role.knowledge or ()
                if isinstance(e, dict) and e.get("question") and e.get("answer")
            ),
        )


@dataclass(frozen=True)
class Turn:
    """One message of the conversation: the customer's (``user``) or ours (``assistant``)."""

    speaker: Literal["user", "assistant"]
    text: str
