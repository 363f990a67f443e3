"""What a file is, from its content: magic bytes (`filetype`), never its name or declared type.

Only the types WhatsApp accepts are taken (they cover what MMS carries too):

* images: JPEG, PNG
* audio: AAC, MP4 audio, MPEG (MP3), AMR, OGG (Opus)
* video: MP4, 3GPP
* documents: PDF, plain text, Word, Excel and PowerPoint (old and new formats)

Plain text has no magic bytes: it is text when its start decodes as UTF-8 without control
characters, and is not markup (HTML, XML, SVG), which a browser would run.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass

import filetype

from engium.exceptions import EngiumError
from media.models import MediaType

#: how much of the start of a file detection reads
HEAD_BYTES = 8192

#: content type → (media type, file extension)
ALLOWED_TYPES: dict[str, tuple[str, str]] = {
    "image/jpeg": (MediaType.IMAGE, "jpg"),
    "image/png": (MediaType.IMAGE, "png"),
    "audio/aac": (MediaType.AUDIO, "aac"),
    "audio/mp4": (MediaType.AUDIO, "m4a"),
    "audio/mpeg": (MediaType.AUDIO, "mp3"),
    "audio/amr": (MediaType.AUDIO, "amr"),
    "audio/ogg": (MediaType.AUDIO, "ogg"),
    "video/mp4": (MediaType.VIDEO, "mp4"),
    "video/3gpp": (MediaType.VIDEO, "3gp"),
    "application/pdf": (MediaType.DOCUMENT, "pdf"),
    "text/plain": (MediaType.DOCUMENT, "txt"),
    "application/msword": (MediaType.DOCUMENT, "doc"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (
        MediaType.DOCUMENT,
        "docx",
    ),
    "application/vnd.ms-excel": (MediaType.DOCUMENT, "xls"),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (
        MediaType.DOCUMENT,
        "xlsx",
    ),
    "application/vnd.ms-powerpoint": (MediaType.DOCUMENT, "ppt"),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (
        MediaType.DOCUMENT,
        "pptx",
    ),
}

#: declared types that say nothing (a client that does not know)
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}
#: other names clients and providers give the allowed types
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/mp3": "audio/mpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/aacp": "audio/aac",
    "audio/x-aac": "audio/aac",
    "audio/opus": "audio/ogg",
    "audio/3gpp": "video/3gpp",
    "application/ogg": "audio/ogg",
}
_MARKUP = re.compile(rb"<\s*(!doctype|html|head|body|script|svg|iframe|\?xml|meta)\b", re.I)
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")


class UnsupportedFileType(EngiumError):
    code = "unsupported_file_type"
    message = (
        "This file's content is not a supported media type (JPEG, PNG, AAC, MP4, MPEG, AMR, "
        "OGG, 3GPP, PDF, plain text, Word, Excel, PowerPoint)."
    )


class MediaTypeMismatch(EngiumError):
    code = "media_type_mismatch"
    message = "The file's content does not match its declared type."


@dataclass(frozen=True)
class Detected:
    content_type: str
    media_type: str
    extension: str


def detect(head: bytes) -> Detected:
    """The type of a file from its first `HEAD_BYTES` bytes; `UnsupportedFileType` if refused."""
    kind = filetype.guess(head) if head else None
    if kind is not None:
        mime = _ALIASES.get(kind.mime, kind.mime)
        if mime == "video/mp4" and head[4:8] == b"ftyp" and head[8:11] in {b"3gp", b"3g2"}:
            mime = "video/3gpp"  # filetype reads every ISO media file's brand as MP4
        if mime not in ALLOWED_TYPES:
            raise UnsupportedFileType(
                f"This file is {kind.mime}, which cannot be sent as media.", field="file"
            )
        media_type, extension = ALLOWED_TYPES[mime]
        return Detected(content_type=mime, media_type=str(media_type), extension=extension)
    if _is_plain_text(head):
        return Detected("text/plain", str(MediaType.DOCUMENT), "txt")
    raise UnsupportedFileType(field="file")


def _is_plain_text(head: bytes) -> bool:
    if not head.strip() or _CONTROL.search(head) or _MARKUP.search(head[:4096]):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the head is still text.
        if exc.start < len(head) - 3:
            return False
    return True


def media_type_of(content_type: str) -> str | None:
    """The media type a declared content type names (``None``: it names none we know)."""
    mime = content_type.split(";")[0].strip().lower()
    mime = _ALIASES.get(mime, mime)
    if mime in _GENERIC_TYPES:
        return None
    if mime in ALLOWED_TYPES:
        return str(ALLOWED_TYPES[mime][0])
    top = mime.split("/")[0]
    if top in {"image", "audio", "video"}:
        return top
    return str(MediaType.DOCUMENT) if "/" in mime else None


#: MP4 (ISO base media) files hold audio, video or both, and their brand does not say which
#: reliably: a declaration may tell one from the other, never anything else.
_MP4_FAMILY = {"audio/mp4": "video/mp4", "video/mp4": "audio/mp4"}


def check_declarations(
    detected: Detected,
    *,
    name: str = "",
    declared_type: str = "",
    media_type: str | None = None,
) -> Detected:
    """Refuse a file whose name, declared content type or stated media type says otherwise.

    The content decides what a file is; a declaration that contradicts it is a disguise (an
    executable renamed ``.jpg``, a PDF declared ``image/png``) or a mistake, refused alike.
    Returns what the file is: the detected type, except that an MP4 file declared audio
    (or video) is taken as such.
    """
    if detected.content_type in _MP4_FAMILY:
        guessed, _ = mimetypes.guess_type(name, strict=False) if name else (None, None)
        said = media_type or media_type_of(declared_type) or media_type_of(guessed or "")
        if said in {MediaType.AUDIO, MediaType.VIDEO} and said != detected.media_type:
            other = _MP4_FAMILY[detected.content_type]
            detected = Detected(other, str(ALLOWED_TYPES[other][0]), ALLOWED_TYPES[other][1])
    if media_type and media_type != detected.media_type:
        raise MediaTypeMismatch(
            f"media_type is {media_type}, but the file is {detected.content_type} "
            f"({detected.media_type}).",
            field="media_type",
        )
    declared = media_type_of(declared_type)
    if declared is not None and declared != detected.media_type:
        raise MediaTypeMismatch(
            f"The file was declared {declared_type.split(';')[0]}, but its content is "
            f"{detected.content_type}.",
            field="file",
        )
    guessed, _ = mimetypes.guess_type(name, strict=False) if name else (None, None)
    by_name = media_type_of(guessed or "")
    if by_name is not None and by_name != detected.media_type:
        raise MediaTypeMismatch(
            f"The file is named {name!r}, but its content is {detected.content_type}.",
            field="file",
        )
    return detected
