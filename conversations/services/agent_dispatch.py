"""Publishing agent turns: the inbound message row is the outbox entry of its answer.

An inbound message recorded with ``agent_turn = pending`` owes an answer; its task
(`ANSWER_INBOUND`, queue ``agents``) is published after the message commits. If that
publish fails, or the task is lost with a broker or a worker, `redispatch_pending_agent_turns`
(in the beat sweep) publishes it again: ``agent_dispatched_at`` says when it last was, or
until when a worker holds the turn.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from conversations.models import AgentTurn, Message
from engium import outbox
from engium.tenancy import current_schema

# The task of `conversations.tasks`, published by name (services never import tasks).
ANSWER_INBOUND = "conversations.answer_inbound"


def dispatch_agent_turn(schema_name: str, message_id: str) -> bool:
    """Enqueue the agent's answer to an inbound message; if the broker is down, mark it for
    the sweep."""
    return outbox.publish(
        ANSWER_INBOUND,
        schema=schema_name,
        args=[message_id],
        if_unpublished=partial(mark_agent_turns_undispatched, [message_id]),
    )


def mark_agent_turns_undispatched(message_ids: list[str]) -> None:
    """Their task could not be published: the next sweep dispatches them at once."""
    Message.objects.filter(pk__in=message_ids, agent_turn=AgentTurn.PENDING).update(
        agent_dispatched_at=None
    )


def redispatch_pending_agent_turns(*, now: datetime | None = None, limit: int = 500) -> int:
    """Enqueue again the pending agent turns of the current tenant whose task went missing.

    A turn is re-dispatched at once when its publish failed, else once its last dispatch
    (or a worker's hold on it) is older than ``ENGIUM_REDISPATCH_AFTER_SECONDS``.
    """
    return outbox.republish_stale(
        Message.objects.filter(agent_turn=AgentTurn.PENDING),
        stamp="agent_dispatched_at",
        task_name=ANSWER_INBOUND,
        schema=current_schema(),
        if_unpublished=mark_agent_turns_undispatched,
        now=now,
        limit=limit,
    )
