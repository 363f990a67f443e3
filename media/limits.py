"""How large a media file each channel takes (``ENGIUM_MEDIA_CHANNEL_LIMITS``).

WhatsApp: images 5 MB, audio and video 16 MB, documents 100 MB. SMS (MMS): 5 MB. Voice
takes no media. Megabytes are decimal (1 MB = 1,000,000 bytes), the providers' own unit, so
a file we accept is never over a provider's limit.
"""

from __future__ import annotations

from django.conf import settings

from engium.exceptions import EngiumError

MB = 1_000_000


class MediaTooLarge(EngiumError):
    code = "media_too_large"
    message = "The media file is larger than the channel takes."


class MediaNotSupported(EngiumError):
    code = "media_not_supported"
    message = "This channel takes no media of this type."


def channel_limit(channel: str, media_type: str) -> int | None:
    """The largest file of ``media_type`` that ``channel`` takes; None: it takes none."""
    limits: dict[str, dict[str, int]] = settings.ENGIUM_MEDIA_CHANNEL_LIMITS
    return limits.get(channel, {}).get(media_type)


def check_channel_limit(channel: str, media_type: str, size: int, *, field: str) -> None:
    """Refuse media that ``channel`` would not carry (`MediaNotSupported`, `MediaTooLarge`)."""
    limit = channel_limit(channel, media_type)
    if limit is None:
        raise MediaNotSupported(f"The {channel} channel takes no {media_type} media.", field=field)
    if size > limit:
        raise MediaTooLarge(
            f"The file is {size} bytes; {channel} takes {media_type} files of at most "
            f"{limit} bytes ({limit / MB:g} MB).",
            field=field,
            details=[{"field": field, "message": f"limit {limit}", "code": "max_size"}],
        )
