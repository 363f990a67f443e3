"""Inbound media: fetched from the provider and stored like an upload, off the callback's path.

The callback's worker stores the inbound message at once (nothing waits for the media) and,
in the same transaction, a `MediaFetch` row: the outbox entry of the fetch. A task
(`fetch_inbound_media`, queue ``default``) downloads the file with the integration's
credentials, stores it (`media.services.store_media`: type from the content, at most
``ENGIUM_MEDIA_MAX_BYTES``) and points the message's ``media_url`` at our signed URL.
Transient failures are tried again with backoff by the beat sweep; a refused file (type,
size) or a provider's refusal fails the fetch for good, and the message keeps the
provider's reference in ``details``.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations.models import Message
from engium import outbox
from engium.exceptions import EngiumError
from engium.tenancy import current_schema, current_tenant_public_id
from integrations.models import Integration
from integrations.providers.base import InboundMessage, ProviderError
from integrations.providers.registry import UnknownProvider, get_provider
from media.models import FetchState, MediaFetch, MediaFile, MediaOrigin
from media.services import store_media
from media.signing import media_url

logger = logging.getLogger(__name__)

FETCH_INBOUND_MEDIA = "conversations.fetch_inbound_media"
#: how long a worker owns a fetch before the sweep may hand it to another
FETCH_LEASE_SECONDS = 300.0


def schedule_media_fetch(
    message: Message, integration: Integration, inbound: InboundMessage
) -> MediaFetch | None:
    """Record that ``message``'s media is to be fetched, and publish the fetch after commit.

    Call inside the transaction that stores the message. None when it carries no media.
    """
    if not inbound.media_reference:
        return None
    now = timezone.now()
    fetch = MediaFetch.objects.create(
        message_id=message.id,
        integration_id=integration.id,
        reference=inbound.media_reference,
        declared_type=(inbound.media_content_type or "")[:128],
        next_attempt_at=now,
        dispatched_at=now,
        created_at=now,
    )
    schema = current_schema()
    transaction.on_commit(lambda: _dispatch(schema, [fetch.pk]))
    return fetch


def _dispatch(schema: str, fetch_ids: list[int]) -> int:
    return outbox.publish_each(
        FETCH_INBOUND_MEDIA, schema=schema, item_ids=fetch_ids, if_unpublished=_mark_undispatched
    )


def _mark_undispatched(fetch_ids: list[int]) -> None:
    MediaFetch.objects.filter(pk__in=fetch_ids, state=FetchState.PENDING).update(dispatched_at=None)


def _claim(fetch_id: int, now: datetime) -> MediaFetch | None:
    with transaction.atomic():
        fetch = (
            MediaFetch.objects.select_for_update(skip_locked=True)
            .filter(pk=fetch_id, state=FetchState.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if fetch is None:
            return None
        fetch.attempts += 1
        fetch.next_attempt_at = now + timedelta(seconds=FETCH_LEASE_SECONDS)
        fetch.save(update_fields=["attempts", "next_attempt_at"])
    return fetch


def fetch_inbound_media(fetch_id: int) -> MediaFetch | None:
    """Fetch and store one inbound message's media; None when there was nothing to do.

    At most one worker fetches a given row at a time (it is claimed for a lease). The
    download goes to a temporary file, outside any transaction.
    """
    now = timezone.now()
    fetch = _claim(fetch_id, now)
    if fetch is None:
        return None
    integration = Integration.objects.filter(pk=fetch.integration_id).first()
    try:
        if integration is None:
            raise ProviderError("integration_unavailable", "The integration was removed.")
        provider = get_provider(integration.provider)
        with tempfile.TemporaryFile() as dest:
            declared = provider.download_media(
                integration.config,
                fetch.reference,
                dest=dest,
                max_bytes=settings.ENGIUM_MEDIA_MAX_BYTES,
            )
            media = store_media(
                dest,
                declared_type="",  # the content decides; providers' labels vary
                origin=MediaOrigin.INBOUND,
                original_name=_original_name(fetch),
            )
        logger.info(
            "inbound media stored",
            extra={"message_id": fetch.message_id, "media_id": media.id, "declared": declared},
        )
    except UnknownProvider:
        return _fail(fetch, "provider_unknown: the provider is not installed.")
    except ProviderError as error:
        if error.transient and fetch.attempts < settings.ENGIUM_MEDIA_FETCH_MAX_ATTEMPTS:
            return _retry_later(fetch, error, now)
        return _fail(fetch, f"{error.code}: {error.message}")
    except EngiumError as error:  # refused by media.services: type, size
        return _fail(fetch, f"{error.code}: {error.message}")
    return _attach(fetch, media)


def _original_name(fetch: MediaFetch) -> str:
    message = Message.objects.filter(pk=fetch.message_id).only("details").first()
    media = (message.details or {}).get("media") if message else None
    return str(media.get("filename", "")) if isinstance(media, dict) else ""


def _attach(fetch: MediaFetch, media: MediaFile) -> MediaFetch:
    """Point the message at the stored media and close the fetch, in one transaction."""
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(pk=fetch.message_id).first()
        if message is not None:
            details = dict(message.details or {})
            details["media_id"] = media.id
            message.details = details
            message.media_url = media_url(current_tenant_public_id(), media.id)
            message.media_type = media.media_type
            message.updated_at = timezone.now()
            message.save(update_fields=["details", "media_url", "media_type", "updated_at"])
        fetch.state = FetchState.DONE
        fetch.media = media
        fetch.error = ""
        fetch.next_attempt_at = None
        fetch.save(update_fields=["state", "media", "error", "next_attempt_at"])
    return fetch


def _fail(fetch: MediaFetch, error: str) -> MediaFetch:
    logger.warning(
        "inbound media could not be fetched",
        extra={"message_id": fetch.message_id, "error": error},
    )
    fetch.state = FetchState.FAILED
    fetch.error = error[:4000]
    fetch.next_attempt_at = None
    fetch.save(update_fields=["state", "error", "next_attempt_at"])
    return fetch


def _retry_later(fetch: MediaFetch, error: ProviderError, now: datetime) -> MediaFetch:
    delay = settings.ENGIUM_MEDIA_FETCH_BACKOFF_SECONDS * 2 ** (fetch.attempts - 1)
    if error.retry_after is not None:
        delay = max(delay, error.retry_after)
    fetch.error = f"{error.code}: {error.message}"[:4000]
    fetch.next_attempt_at = now + timedelta(seconds=delay)
    fetch.dispatched_at = None  # the sweep publishes it when due
    fetch.save(update_fields=["error", "next_attempt_at", "dispatched_at"])
    return fetch


def redispatch_media_fetches(*, now: datetime | None = None, limit: int = 500) -> int:
    """Publish the fetches that are due: retries, and those whose task was lost."""
    now = now or timezone.now()
    return outbox.republish_stale(
        MediaFetch.objects.filter(state=FetchState.PENDING, next_attempt_at__lte=now),
        stamp="dispatched_at",
        task_name=FETCH_INBOUND_MEDIA,
        schema=current_schema(),
        if_unpublished=_mark_undispatched,
        now=now,
        limit=limit,
    )
