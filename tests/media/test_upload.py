"""POST /api/v1/media: what is stored, what is refused, and the media CRUD around it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from media.models import MediaFile
from tests.conftest import ApiClient, TenantFixture, error_of
from tests.media.conftest import media_path, upload, uploaded
from tests.media.files import EXE, HTML, JPEG, TEXT, pdf, png

# ------------------------------------------------------------------ stored


@pytest.mark.parametrize(
    ("content", "name", "content_type", "media_type"),
    [
        (png(), "photo.png", "image/png", "image"),
        (JPEG, "photo.jpg", "image/jpeg", "image"),
        (pdf(), "invoice.pdf", "application/pdf", "document"),
        (TEXT, "note.txt", "text/plain", "document"),
    ],
)
def test_a_file_is_stored_with_the_type_of_its_content(
    tenant_a: TenantFixture,
    media_root: Path,
    content: bytes,
    name: str,
    content_type: str,
    media_type: str,
) -> None:
    # given a real file, declared with its own type
    body = uploaded(tenant_a, content, name, content_type=content_type)

    # then the answer describes it, with a signed URL on the public base
    assert body["id"].startswith("med_")
    assert body["media_type"] == media_type and body["content_type"] == content_type
    assert body["size"] == len(content)
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["original_name"] == name and body["origin"] == "upload"
    assert body["expires_at"] > body["created_at"]
    # and the bytes are in the storage, under the tenant's folder
    with tenant_a.schema():
        row = MediaFile.objects.get(pk=body["id"])
    assert row.storage_path.startswith(f"{tenant_a.id}/")
    assert (media_root / row.storage_path).read_bytes() == content
    # and the URL serves them to anyone who has it (no API key)
    served = Client().get(media_path(body["media_url"]))
    assert served.status_code == 200
    assert served["Content-Type"] == content_type
    assert b"".join(served.streaming_content) == content


def test_the_content_decides_not_the_name_or_a_generic_declared_type(
    tenant_a: TenantFixture,
) -> None:
    body = uploaded(tenant_a, png(), "upload", content_type="application/octet-stream")
    assert (body["content_type"], body["media_type"]) == ("image/png", "image")
    # an image declared with a sibling type (JPEG content declared PNG) is its content's type
    body = uploaded(tenant_a, JPEG, "scan", content_type="image/png")
    assert body["content_type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("content", "name", "content_type"),
    [
        (EXE, "cat.jpg", "image/jpeg"),  # an executable disguised as a photo
        (HTML, "cat.jpg", "image/jpeg"),  # a page disguised as a photo
        (HTML, "page.txt", "text/plain"),  # markup passed off as text
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "anim.gif", "image/gif"),  # not for WhatsApp
        (b"\x00\x01\x02\x03" * 100, "blob.bin", "application/octet-stream"),  # unknown
    ],
)
def test_a_disguised_or_unsupported_file_is_refused(
    tenant_a: TenantFixture, media_root: Path, content: bytes, name: str, content_type: str
) -> None:
    response = upload(tenant_a, content, name, content_type=content_type)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "unsupported_file_type" and error["field"] == "file"
    with tenant_a.schema():
        assert not MediaFile.objects.exists()
    assert not media_root.exists() or not any(media_root.rglob("*.*"))


@pytest.mark.parametrize(
    ("content", "name", "content_type", "fields"),
    [
        (png(), "photo.png", "application/pdf", {}),  # declared a document
        (pdf(), "invoice.pdf", "image/png", {}),  # declared an image
        (pdf(), "holiday.jpg", "application/octet-stream", {}),  # named as an image
        (png(), "photo.png", "image/png", {"media_type": "document"}),  # said to be a document
    ],
)
def test_a_declaration_that_contradicts_the_content_is_refused(
    tenant_a: TenantFixture, content: bytes, name: str, content_type: str, fields: dict[str, str]
) -> None:
    response = upload(tenant_a, content, name, content_type=content_type, **fields)
    assert response.status_code == 400
    assert error_of(response)["code"] == "media_type_mismatch"
    with tenant_a.schema():
        assert not MediaFile.objects.exists()


def test_the_form_is_checked(tenant_a: TenantFixture, api: ApiClient) -> None:
    # no file
    response = Client().post("/api/v1/media", data={"channel": "whatsapp"}, **tenant_a.headers())
    assert response.status_code == 400 and error_of(response)["field"] == "file"
    # an empty file
    assert error_of(upload(tenant_a, b"", "empty.txt"))["code"] == "validation_error"
    # an unknown field
    unknown = upload(tenant_a, png(), "photo.png", caption="x")
    assert unknown.status_code == 400 and error_of(unknown)["field"] == "caption"
    # JSON is not an upload
    refused = api.post("media", tenant=tenant_a, json_body={"file": "x"})
    assert refused.status_code == 415
    assert "multipart/form-data" in error_of(refused)["message"]
    # no API key
    anonymous = Client().post("/api/v1/media", data={"file": b""})
    assert anonymous.status_code == 401


# ------------------------------------------------------------------ per-channel limits


def test_a_real_image_over_5_mb_is_refused_for_whatsapp_and_mms(tenant_a: TenantFixture) -> None:
    big = png(1400, 1300, noise=True)  # incompressible pixels: 5.46 MB of PNG
    assert 5_000_000 < len(big) < 16_000_000
    for channel in ("whatsapp", "sms"):
        response = upload(tenant_a, big, "big.png", content_type="image/png", channel=channel)
        assert response.status_code == 400, channel
        error = error_of(response)
        assert error["code"] == "media_too_large" and "5 MB" in error["message"]
    # checked only when a channel is named: stored, the send will check again
    body = uploaded(tenant_a, big, "big.png", content_type="image/png")
    assert body["size"] == len(big)


def test_limits_are_per_channel_and_media_type(tenant_a: TenantFixture, settings: Any) -> None:
    settings.ENGIUM_MEDIA_CHANNEL_LIMITS = {
        "whatsapp": {"image": 100, "audio": 100, "video": 100, "document": 2000},
        "sms": {"image": 50, "audio": 50, "video": 50, "document": 50},
        "voice": {},
    }
    document = pdf()  # 580 bytes: over MMS's and WhatsApp's image limits, under documents'
    assert uploaded(tenant_a, document, "a.pdf", channel="whatsapp")["size"] == len(document)
    assert error_of(upload(tenant_a, document, "a.pdf", channel="sms"))["code"] == (
        "media_too_large"
    )
    assert error_of(upload(tenant_a, JPEG, "a.jpg", channel="whatsapp"))["code"] == (
        "media_too_large"
    )
    assert uploaded(tenant_a, png(), "a.png", channel="whatsapp")["media_type"] == "image"
    voice = upload(tenant_a, png(), "a.png", channel="voice")
    assert error_of(voice)["code"] == "media_not_supported"


def test_uploads_have_their_own_body_cap_and_other_endpoints_keep_1_mib(
    tenant_a: TenantFixture, api: ApiClient, settings: Any
) -> None:
    # a file over 1 MiB uploads
    over_a_mebibyte = png(700, 600, noise=True)
    assert len(over_a_mebibyte) > 1024 * 1024
    assert uploaded(tenant_a, over_a_mebibyte, "a.png")["size"] == len(over_a_mebibyte)
    # a send of the same size is still refused
    too_big = api.post("conversations/send", tenant=tenant_a, raw=" " * (1024 * 1024 + 1))
    assert too_big.status_code == 413
    # past the upload cap: 413 before anything is read
    settings.ENGIUM_MEDIA_MAX_UPLOAD_BYTES = 4096
    capped = upload(tenant_a, png(100, 100, noise=True), "a.png")
    assert capped.status_code == 413 and error_of(capped)["code"] == "payload_too_large"
    # a file past the media limit, in a body under the cap: 413 too, nothing stored
    settings.ENGIUM_MEDIA_MAX_UPLOAD_BYTES = 10_000_000
    settings.ENGIUM_MEDIA_MAX_BYTES = 1000
    refused = upload(tenant_a, png(100, 100, noise=True), "a.png")
    assert refused.status_code == 413 and error_of(refused)["field"] == "file"
    with tenant_a.schema():
        assert MediaFile.objects.count() == 1


# ------------------------------------------------------------------ list, detail, delete


def test_list_detail_and_delete(
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    api: ApiClient,
    media_root: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    image = uploaded(tenant_a, png(), "a.png")
    document = uploaded(tenant_a, pdf(), "b.pdf")

    page = api.get("media", tenant=tenant_a).json()
    assert [row["id"] for row in page["data"]] == [document["id"], image["id"]]
    images = api.get("media", tenant=tenant_a, query={"media_type": "image"}).json()
    assert [row["id"] for row in images["data"]] == [image["id"]]
    detail = api.get(f"media/{image['id']}", tenant=tenant_a)
    assert detail.status_code == 200 and detail.json()["sha256"] == image["sha256"]

    # another tenant sees none of it
    assert api.get("media", tenant=tenant_b).json()["data"] == []
    assert api.get(f"media/{image['id']}", tenant=tenant_b).status_code == 404
    assert api.delete(f"media/{image['id']}", tenant=tenant_b).status_code == 404

    with tenant_a.schema():
        path = MediaFile.objects.get(pk=image["id"]).storage_path
    assert (media_root / path).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"media/{image['id']}", tenant=tenant_a).status_code == 204
    assert not (media_root / path).exists()
    assert api.get(f"media/{image['id']}", tenant=tenant_a).status_code == 404
    gone = Client().get(media_path(image["media_url"]))
    assert gone.status_code == 404 and error_of(gone)["code"] == "not_found"


def test_an_upload_reaches_the_service_as_a_file_on_disk(
    tenant_a: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.core.files.uploadedfile import TemporaryUploadedFile

    from media import services, views

    seen: list[object] = []
    store = services.store_media

    def recording_store(source: Any, **kwargs: Any) -> MediaFile:
        seen.append(source)
        return store(source, **kwargs)

    monkeypatch.setattr(views.services, "store_media", recording_store)
    uploaded(tenant_a, png(), "small.png")  # even a small file: never held in memory
    (source,) = seen
    assert isinstance(source, TemporaryUploadedFile)
