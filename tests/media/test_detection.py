"""Detection from magic bytes: every type WhatsApp takes, and what it does not."""

from __future__ import annotations

import io
import zipfile

import pytest

from media.detection import (
    MediaTypeMismatch,
    UnsupportedFileType,
    check_declarations,
    detect,
)
from tests.media.files import EXE, HTML, JPEG, TEXT, pdf, png


def office(part: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(part, "<x/>")
    return buffer.getvalue()


def iso_media(brand: bytes) -> bytes:
    return b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x02\x00" + brand + b"isom" + bytes(64)


@pytest.mark.parametrize(
    ("content", "content_type", "media_type"),
    [
        (png(), "image/png", "image"),
        (JPEG, "image/jpeg", "image"),
        (b"ID3\x03\x00\x00\x00\x00\x00\x21" + bytes(64), "audio/mpeg", "audio"),
        (b"\xff\xfb\x90\x64" + bytes(64), "audio/mpeg", "audio"),
        (b"OggS\x00\x02" + bytes(64), "audio/ogg", "audio"),
        (b"#!AMR\n" + bytes(64), "audio/amr", "audio"),
        (b"\xff\xf1\x50\x80\x02\x1f\xfc" + bytes(64), "audio/aac", "audio"),
        (iso_media(b"M4A "), "audio/mp4", "audio"),
        (iso_media(b"isom"), "video/mp4", "video"),
        (iso_media(b"3gp4"), "video/3gpp", "video"),
        (pdf(), "application/pdf", "document"),
        (TEXT, "text/plain", "document"),
        (
            office("word/document.xml"),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "document",
        ),
        (
            office("xl/workbook.xml"),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "document",
        ),
        (
            office("ppt/presentation.xml"),
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "document",
        ),
    ],
)
def test_supported_types_are_detected(content: bytes, content_type: str, media_type: str) -> None:
    detected = detect(content[:8192])
    assert (detected.content_type, detected.media_type) == (content_type, media_type)


@pytest.mark.parametrize(
    "content",
    [
        EXE,
        HTML,
        b"  <?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>",
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(64),  # WhatsApp stickers: not for sending
        office("readme.txt"),  # a plain ZIP archive
        b"\x7fELF\x02\x01\x01" + bytes(64),
        b"plain text with a NUL\x00 byte",
        "caf\u00e9".encode("latin-1") + b" not UTF-8 \xff\xfe",
        b"",
        b"   \n\t ",
    ],
)
def test_other_content_is_refused(content: bytes) -> None:
    with pytest.raises(UnsupportedFileType):
        detect(content)


def test_text_cut_in_the_middle_of_a_character_is_still_text() -> None:
    head = ("ü" * 5000).encode()[:8191]  # ends in half a character
    assert detect(head).content_type == "text/plain"


def test_declarations_must_agree_with_the_content() -> None:
    image = detect(png())
    # agreeing, generic or silent declarations pass
    for declared, name in [
        ("image/png", "a.png"),
        ("image/jpg", "a.JPG"),
        ("application/octet-stream", "a"),
        ("", "scan.unknownext"),
    ]:
        check_declarations(image, name=name, declared_type=declared)
    # contradicting ones do not
    for kwargs in [
        {"declared_type": "application/pdf"},
        {"declared_type": "video/mp4; codecs=avc1"},
        {"name": "report.pdf"},
        {"name": "setup.exe"},
        {"media_type": "audio"},
    ]:
        with pytest.raises(MediaTypeMismatch):
            check_declarations(image, **kwargs)  # type: ignore[arg-type]


def test_an_mp4_file_is_audio_or_video_as_declared_but_nothing_else() -> None:
    video = detect(iso_media(b"mp42"))
    assert video.content_type == "video/mp4"
    as_audio = check_declarations(video, name="voice-note.m4a")
    assert (as_audio.content_type, as_audio.media_type, as_audio.extension) == (
        "audio/mp4",
        "audio",
        "m4a",
    )
    assert check_declarations(video, media_type="audio").media_type == "audio"
    assert check_declarations(detect(iso_media(b"M4A ")), declared_type="video/mp4").media_type == (
        "video"
    )
    assert check_declarations(video).media_type == "video"  # silent: as detected
    with pytest.raises(MediaTypeMismatch):
        check_declarations(video, name="clip.pdf")
    with pytest.raises(MediaTypeMismatch):
        check_declarations(video, media_type="image")
