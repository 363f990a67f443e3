"""Agent roles answering inbound messages, and conversations handed to a person and back.

`answer_inbound` (task ``conversations.answer_inbound``, queue ``agents``) answers one
inbound message in three steps, so that no transaction stays open while a model thinks:

1. *claim*, in one transaction holding the inbound message and its conversation: skip it if
   the conversation is closed or handed off, has no agent role, or the message is too old;
   hand the conversation off if the message holds a hand-off keyword; otherwise hold the
   turn for a lease (``agent_dispatched_at`` in the future), so that a duplicate task
   skips it, and read the role and the conversation's recent messages;
2. *compose* the answer from plain data (`agents.replies`: the model, else the built-in
   agent), outside any transaction;
3. *send* it, in one transaction holding the message and conversation again: if the turn is
   still pending and the conversation still active, the reply goes out through
   `send_message` (delivered, with statuses and events, like any send) carrying
   ``in_reply_to``, and the turn is ``answered``.

At most one reply per inbound message is enforced by the database: the turn's state moves
only under the row lock, and the unique ``in_reply_to`` (``one_agent_reply_per_message``)
refuses a second reply even to a worker whose lease ran out while another took over.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg.errors
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from agents import phrases
from agents.models import AgentRole
from agents.replies import Reply, compose_reply, handoff_keyword
from agents.roles import RoleSpec, Turn
from conversations.models import (
    AgentTurn,
    Conversation,
    ConversationStatus,
    Message,
    MessageDirection,
)
from conversations.payloads import conversation_payload
from conversations.services.messages import MessageContent, send_message
from engium.exceptions import ChannelNotConfigured, ConversationNotPendingHuman, NotFound
from webhooks.models import EventType
from webhooks.services import raise_event

logger = logging.getLogger(__name__)

#: How much longer than the model may take a worker holds a turn before another may.
LEASE_MARGIN_SECONDS = 30.0


@dataclass(frozen=True)
class _Claim:
    message_id: str
    role: RoleSpec
    history: list[Turn]
    first_message: bool


def answer_inbound(message_id: str) -> Message | None:
    """Answer an inbound message as its conversation's agent role, at most once.

    Returns the message sent (the answer, or the acknowledgement of a hand-off), or None
    when nothing was sent (nothing owed, already answered, held by another worker, or
    skipped). Safe to run any number of times for the same message, concurrently too.
    """
    claimed = _claim_turn(message_id, now=timezone.now())
    if not isinstance(claimed, _Claim):
        return claimed
    reply = compose_reply(claimed.role, claimed.history, first_message=claimed.first_message)
    return _send_answer(claimed, reply)


def _claim_turn(message_id: str, *, now: datetime) -> _Claim | Message | None:
    with transaction.atomic():
        inbound = (
            Message.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, direction=MessageDirection.INBOUND, agent_turn=AgentTurn.PENDING)
            .filter(Q(agent_dispatched_at__isnull=True) | Q(agent_dispatched_at__lte=now))
            .first()
        )
        if inbound is None:
            return None
        conversation = Conversation.objects.select_for_update().get(pk=inbound.conversation_id)
        role = _role_of(conversation)
        reason = _reason_to_skip(inbound, conversation, role, now=now)
        if reason or role is None:
            _end_turn(inbound, AgentTurn.SKIPPED, reason=reason or "no agent role")
            return None
        spec = RoleSpec.of(role)
        keyword = handoff_keyword(spec, inbound.text)
        if keyword is not None:
            return _hand_off(inbound, conversation, spec, keyword=keyword)
        lease = settings.ENGIUM_LLM_TIMEOUT + LEASE_MARGIN_SECONDS
        inbound.agent_dispatched_at = now + timedelta(seconds=lease)
        inbound.save(update_fields=["agent_dispatched_at"])
        return _Claim(
            message_id=inbound.id,
            role=spec,
            history=_history(inbound),
            first_message=not Message.objects.filter(
                conversation_id=conversation.id,
                direction=MessageDirection.INBOUND,
                id__lt=inbound.id,
            ).exists(),
        )


def _role_of(conversation: Conversation) -> AgentRole | None:
    """The conversation's own agent role, else the tenant's default one."""
    if conversation.agent_role_id is not None:
        role = AgentRole.objects.filter(pk=conversation.agent_role_id).first()
        if role is not None:
            return role
    return AgentRole.objects.filter(is_default=True).first()


def _reason_to_skip(
    inbound: Message, conversation: Conversation, role: AgentRole | None, *, now: datetime
) -> str:
    if conversation.status == ConversationStatus.CLOSED:
        return "the conversation is closed"
    if conversation.status == ConversationStatus.PENDING_HUMAN:
        return "the conversation is handed off to a person"
    if role is None:
        return "no agent role"
    if now - inbound.created_at > timedelta(seconds=settings.ENGIUM_AGENT_REPLY_MAX_AGE_SECONDS):
        return "the message is too old to answer"
    return ""


def _history(inbound: Message) -> list[Turn]:
    """The conversation's latest messages up to ``inbound``, oldest first."""
    recent = list(
        Message.objects.filter(conversation_id=inbound.conversation_id, id__lte=inbound.id)
        .order_by("-id")
        .values_list("direction", "text", "media_type")[: settings.ENGIUM_AGENT_HISTORY_MESSAGES]
    )
    return [
        Turn(
            speaker="user" if direction == MessageDirection.INBOUND else "assistant",
            text=text or (f"[{media_type}]" if media_type else ""),
        )
        for direction, text, media_type in reversed(recent)
    ]


def _hand_off(
    inbound: Message, conversation: Conversation, role: RoleSpec, *, keyword: str
) -> Message | None:
    """Give the conversation to a person: ``pending_human``, ``conversation.handoff``, and a
    short acknowledgement in the role's language. Runs in the claim's transaction."""
    conversation.status = ConversationStatus.PENDING_HUMAN
    conversation.save(update_fields=["status"])
    raise_event(EventType.HANDOFF, conversation_payload(conversation))
    logger.info(
        "conversation handed off to a person",
        extra={"conversation_id": conversation.id, "message_id": inbound.id, "keyword": keyword},
    )
    acknowledgement, outcome = _send_reply(
        conversation, inbound, phrases.handoff_acknowledgement(role.language)
    )
    _end_turn(inbound, AgentTurn.HANDED_OFF, reason=outcome)
    return acknowledgement


def _send_answer(claim: _Claim, reply: Reply) -> Message | None:
    with transaction.atomic():
        inbound = (
            Message.objects.select_for_update()
            .filter(pk=claim.message_id, agent_turn=AgentTurn.PENDING)
            .first()
        )
        if inbound is None:  # another worker finished the turn meanwhile
            return None
        conversation = Conversation.objects.select_for_update().get(pk=inbound.conversation_id)
        if conversation.status != ConversationStatus.ACTIVE:
            # closed or handed off while the answer was being composed
            reason = f"the conversation is {conversation.status}"
            _end_turn(inbound, AgentTurn.SKIPPED, reason=reason)
            return None
        sent, outcome = _send_reply(conversation, inbound, reply.text)
        answered = sent is not None or outcome == _ANSWERED
        _end_turn(inbound, AgentTurn.ANSWERED if answered else AgentTurn.SKIPPED, reason=outcome)
    if sent is not None:
        logger.info(
            "agent answered",
            extra={"message_id": inbound.id, "reply_id": sent.id, "source": reply.source},
        )
    return sent


_ANSWERED = "answered already"


def _send_reply(
    conversation: Conversation, inbound: Message, text: str
) -> tuple[Message | None, str]:
    """Send ``text`` into the conversation as the answer to ``inbound``; (message, outcome)."""
    try:
        sent = send_message(
            recipient=conversation.recipient,
            channel=conversation.channel,
            content=MessageContent(text=text),
            in_reply_to=inbound.id,
        )
    except ChannelNotConfigured:
        return None, f"no active {conversation.channel} integration"
    except IntegrityError as exc:
        if isinstance(exc.__cause__, psycopg.errors.UniqueViolation):
            return None, _ANSWERED  # one_agent_reply_per_message
        raise
    return sent, ""


def _end_turn(inbound: Message, state: AgentTurn, *, reason: str = "") -> None:
    inbound.agent_turn = state
    inbound.save(update_fields=["agent_turn"])
    if reason and state == AgentTurn.SKIPPED:
        logger.info("agent turn skipped", extra={"message_id": inbound.id, "reason": reason})


def resume_agent(conversation_id: str) -> Conversation:
    """Hand a conversation back to its agent role: ``pending_human`` → ``active``.

    The agent answers the next inbound message; messages that arrived while a person had
    the conversation stay unanswered by it. Raises `ConversationNotPendingHuman` (409) for
    a conversation in any other status.
    """
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
        if conversation is None:
            raise NotFound("No conversation with this ID exists.")
        if conversation.status != ConversationStatus.PENDING_HUMAN:
            raise ConversationNotPendingHuman(
                f"The conversation is {conversation.status}: only a conversation handed off "
                "to a person (pending_human) can be handed back to its agent."
            )
        conversation.status = ConversationStatus.ACTIVE
        conversation.save(update_fields=["status"])
    return conversation
