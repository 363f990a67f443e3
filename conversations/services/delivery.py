"""Delivering outbound messages through their integration's provider.

The message row is its own outbox entry: ``next_attempt_at`` says when delivery is due
and ``dispatched_at`` when a task for it was last enqueued (NULL: it waits for one). Which
waiting messages go to the workers, and when, is `conversations.services.dispatch`'s
business (fair across tenants); a task that was lost (broker down at enqueue time, a worker
killed) is dispatched again from there too. Duplicate tasks are harmless: a worker *claims*
a message with a lease before calling the provider, and a claimed message is skipped by
others.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from conversations.models import Message, MessageStatus
from conversations.services.statuses import change_message_status, change_statuses
from conversations.status import PENDING_DELIVERY
from engium import outbox
from engium.postgresql import update_rows
from engium.tenancy import current_schema
from integrations import selectors as integration_selectors
from integrations.models import Integration
from integrations.providers import http
from integrations.providers.base import (
    OutboundMessage,
    Provider,
    ProviderError,
    SendResult,
    StatusReport,
    TransientProviderError,
)
from integrations.providers.registry import UnknownProvider, get_provider
from integrations.services import record_provider_exchanges
from media.services import media_of_url
from media.signing import is_media_url, refresh_media_url

logger = logging.getLogger(__name__)

# The tasks of `conversations.tasks`, published by name (services never import tasks).
DELIVER_MESSAGE = "conversations.deliver_message"
#: the failure of a message that may or may not have reached a provider that cannot be asked
UNKNOWN_OUTCOME = "delivery_outcome_unknown"
DELIVER_MESSAGES = "conversations.deliver_messages"
DISPATCH_MESSAGES = "conversations.dispatch_messages"
APPLY_STATUS_REPORT = "conversations.apply_status_report"


def deliver_message(message_id: str) -> Message | None:
    """Hand one message to its provider, if it is due and nobody else holds it.

    Returns the message, or None when there was nothing to do. See `deliver_batch`.
    """
    delivered = deliver_batch([message_id])
    return delivered[0] if delivered else None


def deliver_batch(message_ids: list[str]) -> list[Message]:
    """Hand a batch of messages to their providers: the due ones that nobody else holds.

    The batch is claimed in one transaction (`_claim_many`), then each message is prepared
    in order on this thread (which alone touches the database). Adapters whose `send` is a
    pure HTTP call (`Provider.sends_concurrently`) are called at once for the whole batch,
    each on a thread of the process's sender pool: a batch costs one provider round trip, not
    one per message. The sent ones are recorded in one transaction.

    Transient provider errors schedule a retry with exponential backoff and jitter;
    permanent ones (and exhausting ``ENGIUM_DELIVERY_MAX_ATTEMPTS``) fail the message.
    An attempt whose outcome was never learnt (see `Message.outcome_unknown`) is first
    looked up at the provider, so that nothing is sent twice (`_find_earlier_send`).
    Returns the messages attempted, in order.
    """
    return send_and_record(prepare_batch(message_ids))


def send_and_record(attempts: list[Attempt]) -> list[Message]:
    """The rest of `deliver_batch`, for prepared attempts: send them here, and record them."""
    if not attempts:
        return []
    together = [attempt for attempt in attempts if attempt.sends_concurrently]
    if len(together) > 1:
        for future in [sender_pool().submit(attempt.send) for attempt in together]:
            future.result()
    for attempt in attempts:
        if attempt.ready:  # a sequential adapter, or a lone concurrent one
            attempt.send()
    record_batch(attempts)
    return [attempt.message for attempt in attempts]


def prepare_batch(message_ids: list[str]) -> list[Attempt]:
    """Claim the batch (`_claim_many`) and prepare each claimed message, on this thread."""
    return prepare_claimed(_claim_many(message_ids))


def prepare_claimed(claimed: list[tuple[Message, bool]]) -> list[Attempt]:
    """Prepare claimed messages (`claim_locked`), in order, with their integrations."""
    integrations = Integration.objects.in_bulk({message.integration_id for message, _ in claimed})
    attempts = [
        Attempt(message, integrations.get(message.integration_id), unknown)
        for message, unknown in claimed
    ]
    for attempt in attempts:
        attempt.prepare()
    return attempts


class Attempt:
    """One claimed message on its way through `deliver_batch`: prepared here, sent (perhaps
    on a sender thread, which must not touch the database), then recorded here."""

    def __init__(self, message: Message, integration: Integration | None, unknown: bool) -> None:
        self.message, self.integration, self.unknown = message, integration, unknown
        self.provider: Provider | None = None
        self.outbound: OutboundMessage | None = None
        self.exchanges: list[http.Exchange] = []
        #: the outcome: a provider's answer, or the error to retry or fail with
        self.result: SendResult | None = None
        self.error: ProviderError | None = None

    @property
    def ready(self) -> bool:
        return self.outbound is not None and self.result is None and self.error is None

    @property
    def sends_concurrently(self) -> bool:
        return self.ready and self.provider is not None and self.provider.sends_concurrently

    def prepare(self) -> None:
        """Everything before the send itself (this thread): the adapter, the outbound
        message, and the lookup of an earlier attempt whose outcome is unknown."""
        message, integration = self.message, self.integration
        with self._outcome(), http.recording() as self.exchanges:
            if integration is None or not integration.is_active:
                raise ProviderError(
                    "integration_unavailable", "The message's integration was removed or disabled."
                )
            provider = self.provider = get_provider(integration.provider)
            outbound = OutboundMessage(
                message_id=message.id,
                channel=message.channel,
                recipient=message.recipient,
                text=message.text,
                # Our media URLs are signed afresh: the provider fetches within their validity.
                media_url=refresh_media_url(message.media_url) if message.media_url else None,
                media_type=message.media_type or None,
                media_filename=_media_filename(message.media_url),
                # Providers that take templates as such get them; the others the rendered text.
                template=message.provider_template if provider.sends_templates else None,
                language=_tenant_language(),
                # Our ID rides in the URL (which the provider signs), so that its reports find
                # the message even if the outcome of this send is never recorded.
                status_callback_url=(
                    f"{integration_selectors.callback_root(integration.pk)}/status"
                    f"?message_id={message.id}"
                    if "status" in provider.callback_kinds
                    else None
                ),
            )
            if self.unknown:
                earlier = _find_earlier_send(provider, integration, outbound, message)
                if earlier:
                    self.result = SendResult(provider_message_id=earlier)
                    return
            if message.attempts > settings.ENGIUM_DELIVERY_MAX_ATTEMPTS:
                # Only workers dying mid-send, again and again, get here: stop trying.
                raise ProviderError("attempts_exhausted", "Delivery was attempted too often.")
            self.outbound = outbound

    def send(self) -> None:
        assert self.provider is not None and self.outbound is not None
        assert self.integration is not None
        with self._outcome(), http.recording() as exchanges:
            try:
                self.result = self.provider.send(
                    self.integration.config, self.outbound, idempotency_key=self.message.id
                )
            finally:
                self.exchanges += exchanges

    @contextmanager
    def _outcome(self) -> Iterator[None]:
        """Keep the error an attempt ended with, as the error to retry or fail with."""
        try:
            yield
        except UnknownProvider:
            self.error = ProviderError("provider_unknown", "The provider is not installed.")
        except ProviderError as error:
            self.error = error
        except Exception:
            # A bug or an unreadable config must not strand the message in `sending`: retry
            # it like a transient error, so it fails for good after the last attempt.
            # Whether the provider took it is not known.
            logger.exception(
                "unexpected error delivering a message", extra={"message_id": self.message.pk}
            )
            self.error = TransientProviderError(
                "internal_error", "Delivery failed on our side.", ambiguous=True
            )


def record_batch(attempts: list[Attempt]) -> None:
    """Record each attempt's outcome (this thread): the provider log, then the sent ones in
    one transaction, then retries and failures one by one."""
    _log_exchanges(attempts)
    sent = [(attempt.message, attempt.result) for attempt in attempts if attempt.result]
    if sent:
        recorded = _record_sent_many(sent)
        for attempt in attempts:
            attempt.message = recorded.get(attempt.message.pk, attempt.message)
    for attempt in attempts:
        error = attempt.error
        if attempt.result is not None:
            continue
        if error is None:  # neither sent nor failed: cannot happen, but never strand it
            error = TransientProviderError(
                "internal_error", "Delivery failed on our side.", ambiguous=True
            )
        retry = error.transient and attempt.message.attempts < settings.ENGIUM_DELIVERY_MAX_ATTEMPTS
        outcome = _retry_later(attempt.message, error) if retry else _fail(attempt.message, error)
        if outcome is not None:
            attempt.message = outcome


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def sender_pool() -> ThreadPoolExecutor:
    """The process's threads for concurrent provider calls (``ENGIUM_DELIVERY_SENDERS``)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                settings.ENGIUM_DELIVERY_SENDERS, thread_name_prefix="engium-provider-send"
            )
        return _pool


def _media_filename(url: str) -> str | None:
    """The original name of our media file behind ``url`` (documents show it), if any."""
    if not url or not is_media_url(url):
        return None
    media = media_of_url(url)
    return media.original_name or None if media is not None else None


def _find_earlier_send(
    provider: Provider, integration: Integration, outbound: OutboundMessage, message: Message
) -> str:
    """The provider's ID of an earlier attempt that reached it; "" if none surely did.

    Raises `ProviderError` when sending again could send twice: the provider cannot be asked
    now (transient: asked again later) or cannot tell at all (``delivery_outcome_unknown``,
    unless ``ENGIUM_DELIVERY_UNKNOWN_OUTCOME`` is ``resend``).
    """
    try:
        found = provider.find_sent(integration.config, outbound, since=message.created_at)
    except ProviderError as error:
        # Not asked yet: whatever else failed, the earlier attempt is still unknown.
        error.ambiguous = True
        raise
    if found is None:
        if settings.ENGIUM_DELIVERY_UNKNOWN_OUTCOME == "resend":
            logger.warning(
                "sending again after an attempt with an unknown outcome",
                extra={"message_id": message.pk, "provider": integration.provider},
            )
            return ""
        raise ProviderError(
            UNKNOWN_OUTCOME,
            "An earlier attempt may have reached the provider, which cannot be asked; "
            "the message was not sent again.",
        )
    # An ID another message already holds is that message's send, not this one's.
    taken = set(
        Message.objects.filter(provider_message_id__in=found)
        .exclude(pk=message.pk)
        .values_list("provider_message_id", flat=True)
    )
    candidates = [provider_id for provider_id in found if provider_id not in taken]
    if candidates:
        logger.info(
            "an earlier attempt had reached the provider; not sending again",
            extra={"message_id": message.pk, "provider_message_id": candidates[-1]},
        )
        return candidates[-1]  # lists are newest first: the oldest is the first attempt
    return ""


def _tenant_language() -> str:
    tenant = getattr(connection, "tenant", None)
    return str(getattr(tenant, "default_language", "") or "en")


def _log_exchanges(attempts: list[Attempt]) -> None:
    # Support's record of what the providers were told and answered; never stops a delivery.
    logged = [
        (attempt.message.pk, attempt.integration, attempt.exchanges)
        for attempt in attempts
        if attempt.integration is not None and attempt.exchanges
    ]
    if not logged:
        return
    try:
        record_provider_exchanges(logged)
    except Exception:
        logger.exception(
            "could not write the provider log",
            extra={"message_ids": [message_id for message_id, _, _ in logged]},
        )


def _claim(message_id: str) -> tuple[Message, Integration | None, bool] | None:
    """Lease one due message to this worker (see `_claim_many`); with its integration."""
    claimed = _claim_many([message_id])
    if not claimed:
        return None
    message, unknown = claimed[0]
    return message, Integration.objects.filter(pk=message.integration_id).first(), unknown


def _claim_many(message_ids: list[str]) -> list[tuple[Message, bool]]:
    """Lease the due messages among ``message_ids`` that nobody holds to this worker, in the
    given order, in one transaction (`claim_locked`)."""
    now = timezone.now()
    with transaction.atomic():
        found = {
            message.pk: message
            for message in Message.objects.select_for_update(skip_locked=True)
            .filter(pk__in=message_ids, status__in=PENDING_DELIVERY, next_attempt_at__lte=now)
            .order_by("pk")
        }
        return claim_locked(
            [found[pk] for pk in dict.fromkeys(message_ids) if pk in found], now=now
        )


def claim_locked(messages: list[Message], *, now: datetime) -> list[tuple[Message, bool]]:
    """Lease ``messages`` to this worker: due messages whose row locks the caller holds, in
    its transaction. Returns each with whether its last attempt's outcome is unknown (the
    attempt's worker died, or the provider's answer was lost)."""
    if not messages:
        return []
    lease = timedelta(seconds=settings.ENGIUM_DELIVERY_LEASE_SECONDS)
    unknown = [message.outcome_unknown for message in messages]
    for message in messages:
        message.attempts += 1
        message.next_attempt_at = message.dispatched_at = now + lease
        # Until this attempt records its outcome, it is unknown.
        message.outcome_unknown = True
    # queued → sending (with its history), or a retry already `sending`: one UPDATE
    change_statuses(
        messages,
        MessageStatus.SENDING,
        at=now,
        also_save=["attempts", "next_attempt_at", "dispatched_at", "outcome_unknown"],
    )
    return list(zip(messages, unknown, strict=True))


def _record_sent_many(sent: list[tuple[Message, SendResult]]) -> dict[str, Message]:
    """Record what the providers took, in one transaction; returns the messages recorded."""
    results = {message.pk: result for message, result in sent}
    with transaction.atomic():
        locked = list(Message.objects.select_for_update().filter(pk__in=results).order_by("pk"))
        for message in locked:
            message.provider_message_id = results[message.pk].provider_message_id
            message.error_code, message.error_message = "", ""
            # The provider has it: nothing is due any more, even if it confirms `sent` later.
            message.next_attempt_at = None
            message.outcome_unknown = False
        sent_fields = [
            "provider_message_id",
            "error_code",
            "error_message",
            "next_attempt_at",
            "outcome_unknown",
        ]
        by_status: dict[str | None, list[Message]] = {}
        for message in locked:
            by_status.setdefault(results[message.pk].status, []).append(message)
        for status, messages in by_status.items():
            if status:  # the status the provider confirmed, if the state machine allows it
                change_statuses(messages, status, also_save=sent_fields)
            else:
                update_rows(messages, sent_fields)
    return {message.pk: message for message in locked}


def _retry_later(message: Message, error: ProviderError) -> Message | None:
    delay = error.retry_after or backoff_seconds(message.attempts)
    due = timezone.now() + timedelta(seconds=delay)
    with transaction.atomic():
        # Back to waiting: it holds no place among the tenant's messages in flight while its
        # retry is not due. The dispatcher is woken when it is (if that wake-up is lost, the
        # sweep finds the message once due).
        updated = Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
            next_attempt_at=due,
            dispatched_at=None,
            error_code=error.code[:64],
            error_message=error.message,
            # An unknown outcome stays unknown until the provider is asked.
            outcome_unknown=message.outcome_unknown if error.ambiguous else False,
        )
        if updated:
            schema = current_schema()
            transaction.on_commit(
                lambda: outbox.publish(DISPATCH_MESSAGES, schema=schema, countdown=delay)
            )
    logger.info(
        "transient provider error; retrying",
        extra={"message_id": message.pk, "code": error.code, "retry_in": round(delay, 2)},
    )
    message.refresh_from_db()
    return message


def _fail(message: Message, error: ProviderError) -> Message | None:
    with transaction.atomic():
        locked = Message.objects.select_for_update().filter(pk=message.pk).first()
        if locked is None:
            return None
        change_message_status(
            locked, MessageStatus.FAILED, error_code=error.code, error_message=error.message
        )
    return locked


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with ±20 % jitter: 5 s, 10 s, 20 s, … capped at 10 min."""
    base = settings.ENGIUM_DELIVERY_BACKOFF_BASE_SECONDS * (2 ** max(attempt - 1, 0))
    capped = min(base, settings.ENGIUM_DELIVERY_BACKOFF_MAX_SECONDS)
    return capped * random.uniform(0.8, 1.2)


def apply_status_report(report: StatusReport) -> Message | None:
    """Apply a provider's status report (a callback, or the sandbox's simulation).

    Finds the message by our ID or the provider's; a report that would move the status
    backwards (a late ``delivered`` after ``read``) changes nothing.
    """
    lookup = Q(pk=report.message_id) if report.message_id else Q()
    if report.provider_message_id:
        provider_id = Q(provider_message_id=report.provider_message_id)
        # A report naming our ID may be about a send whose outcome was never recorded (the
        # worker died after the provider accepted it): the provider's ID is learnt here.
        lookup &= (provider_id | Q(provider_message_id="")) if report.message_id else provider_id
    if not lookup:
        return None
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(lookup).first()
        if message is None:
            return None
        also_save: list[str] = []
        if report.provider_message_id and not message.provider_message_id:
            message.provider_message_id = report.provider_message_id
            # The provider has it: nothing is due any more (never sent twice).
            message.next_attempt_at = None
            message.outcome_unknown = False
            also_save = ["provider_message_id", "next_attempt_at", "outcome_unknown"]
            if message.status == MessageStatus.FAILED and message.error_code == UNKNOWN_OUTCOME:
                # We failed it for want of knowing; the provider's word corrects that: the
                # status history keeps the failure, and the message moves on from `sending`.
                message.status = MessageStatus.SENDING
                message.error_code, message.error_message = "", ""
                also_save += ["status", "error_code", "error_message"]
        if (
            not change_message_status(
                message,
                report.status,
                at=report.occurred_at,
                error_code=report.error_code or "",
                error_message=report.error_message or "",
                also_save=also_save,
            )
            and also_save
        ):
            message.save(update_fields=also_save)
    return message


def mark_undispatched(message_ids: list[str]) -> None:
    """Their delivery task could not be published: they wait again, and the next dispatch
    (at the latest the sweep's) takes them."""
    Message.objects.filter(pk__in=message_ids, status__in=PENDING_DELIVERY).update(
        dispatched_at=None
    )
