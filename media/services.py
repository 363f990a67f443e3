"""Writes on media files: store (upload or inbound), check before a send, delete."""

from __future__ import annotations

import hashlib
import logging
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.utils import timezone

from engium.exceptions import EngiumError, NotFound, PayloadTooLarge
from engium.tenancy import current_tenant_public_id
from media import signing
from media.detection import HEAD_BYTES, MediaTypeMismatch, check_declarations, detect
from media.limits import check_channel_limit
from media.models import MediaFile, MediaOrigin, new_media_id

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024


class InvalidMediaURL(EngiumError):
    code = "invalid_media_url"
    message = "This media URL is not valid: upload the file again (POST /api/v1/media)."


class MediaURLExpired(EngiumError):
    code = "media_url_expired"
    message = "This media URL has expired: get a fresh one with GET /api/v1/media/{id}."


class MediaNotFound(EngiumError):
    code = "media_not_found"
    message = "No media file of this tenant has this URL."


def media_storage() -> Storage:
    """Where media bytes live (`STORAGES["media"]`: file system or S3-compatible)."""
    return storages["media"]


def store_media(
    source: IO[bytes],
    *,
    original_name: str = "",
    declared_type: str = "",
    media_type: str | None = None,
    channel: str | None = None,
    origin: str = MediaOrigin.UPLOAD,
) -> MediaFile:
    """Store a file of the current tenant; the type comes from its content.

    ``declared_type`` (the client's or provider's content type), ``original_name`` and
    ``media_type`` must not contradict the content (`MediaTypeMismatch`); the content must
    be of an allowed type (`UnsupportedFileType`); with a ``channel``, the channel must take
    it (`MediaTooLarge`, `MediaNotSupported`). ``source`` is read in chunks, never whole.
    Nothing is stored when any check fails.
    """
    source.seek(0)
    detected = detect(source.read(HEAD_BYTES))
    detected = check_declarations(
        detected, name=original_name, declared_type=declared_type, media_type=media_type
    )
    source.seek(0)
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_BYTES):
        digest.update(chunk)
        size += len(chunk)
    if size > settings.ENGIUM_MEDIA_MAX_BYTES:
        raise PayloadTooLarge(
            f"The file is larger than {settings.ENGIUM_MEDIA_MAX_BYTES} bytes.", field="file"
        )
    if channel:
        check_channel_limit(channel, detected.media_type, size, field="file")
    now = timezone.now()
    media_id = new_media_id()
    path = f"{current_tenant_public_id()}/{now:%Y/%m}/{media_id}.{detected.extension}"
    content = source if isinstance(source, File) else File(source, name=path)
    # A storage that records a content type (S3) records the detected one, not the client's.
    content.content_type = detected.content_type  # type: ignore[attr-defined]
    source.seek(0)
    storage = media_storage()
    stored_path = storage.save(path, content)
    try:
        with transaction.atomic():
            return MediaFile.objects.create(
                id=media_id,
                storage_path=stored_path,
                original_name=_clean_name(original_name),
                content_type=detected.content_type,
                media_type=detected.media_type,
                size=size,
                sha256=digest.hexdigest(),
                origin=origin,
                created_at=now,
            )
    except BaseException:
        storage.delete(stored_path)
        raise


def _clean_name(name: str) -> str:
    """The file's own name (no folders, no control characters), at most 255 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in base if ch.isprintable())[:255]


def delete_media(media_id: str) -> None:
    """Delete a media file: its row now, its bytes once that is committed.

    Messages that pointed at it keep their URL, which then answers 404.
    """
    media = MediaFile.objects.filter(pk=media_id).first()
    if media is None:
        raise NotFound("No media file with this ID exists.")
    path = media.storage_path
    media.delete()
    transaction.on_commit(lambda: _delete_bytes(path))


def _delete_bytes(path: str) -> None:
    try:
        media_storage().delete(path)
    except Exception:  # the row is gone; stray bytes are only wasted space
        logger.exception("could not delete a media file's bytes", extra={"path": path})


def media_of_url(url: str) -> MediaFile | None:
    """The current tenant's media file behind one of our URLs (its age aside), if any."""
    token = signing.token_of(url)
    if token is None:
        return None
    try:
        parsed = signing.read_token(token, check_age=False)
    except signing.BadMediaURL:
        return None
    if parsed.tenant_id != current_tenant_public_id():
        return None
    return MediaFile.objects.filter(pk=parsed.media_id).first()


def check_media_for_send(url: str, *, media_type: str, channel: str) -> MediaFile | None:
    """For a send with one of our media URLs: the media file it names, checked.

    The URL's signature and age, that the file belongs to the current tenant (another
    tenant's URL is `MediaNotFound`, exactly as an unknown one), that ``media_type`` is the
    file's, and that the channel takes it. None for any other URL (someone else's https
    media, sent as it is).
    """
    token = signing.token_of(url)
    if token is None:
        return None
    field = "message.media_url"
    try:
        parsed = signing.read_token(token)
    except signing.ExpiredMediaURL as exc:
        raise MediaURLExpired(field=field) from exc
    except signing.BadMediaURL as exc:
        raise InvalidMediaURL(field=field) from exc
    media = None
    if parsed.tenant_id == current_tenant_public_id():
        media = MediaFile.objects.filter(pk=parsed.media_id).first()
    if media is None:
        raise MediaNotFound(field=field)
    if media.media_type != media_type:
        raise MediaTypeMismatch(
            f"media_type is {media_type}, but the file is {media.content_type} "
            f"({media.media_type}).",
            field="message.media_type",
        )
    check_channel_limit(channel, media.media_type, media.size, field=field)
    return media
