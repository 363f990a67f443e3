"""Reads on media files."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from engium.exceptions import NotFound
from media.models import MediaFile


def get_media(media_id: str) -> MediaFile:
    """The current tenant's media file with this ID; `NotFound` if there is none."""
    media = MediaFile.objects.filter(pk=media_id).first()
    if media is None:
        raise NotFound("No media file with this ID exists.")
    return media


def filter_media(query: dict[str, Any]) -> QuerySet[MediaFile]:
    rows = MediaFile.objects.all()
    for field in ("media_type", "origin"):
        if query.get(field):
            rows = rows.filter(**{field: query[field]})
    return rows
