"""Sends with media: our signed URLs are checked against the file; providers receive them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from conversations.models import Message
from conversations.services import deliver_message
from tests.builders import create_integration
from tests.conftest import ApiClient, TenantFixture, error_of
from tests.fakes import FakeGraph, FakeTwilio, form_of
from tests.media.conftest import media_path, uploaded
from tests.media.files import JPEG, pdf, png
from tests.media.test_urls import url_signed_ago


@pytest.fixture
def graph_api() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        yield server


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


def media_send(
    api: ApiClient, tenant: TenantFixture, url: str, media_type: str, **body: Any
) -> Any:
    message: dict[str, Any] = {"media_url": url, "media_type": media_type}
    message.update(body.pop("message", {}))
    return api.send(tenant, message=message, **body)


def test_an_uploaded_image_goes_out_on_whatsapp_cloud_and_graph_can_fetch_it(
    api: ApiClient, tenant_a: TenantFixture, graph_api: FakeGraph
) -> None:
    # given a WhatsApp Cloud integration and an uploaded photo
    create_integration(
        # the 24-hour window is not what these tests are about (test_session_window.py)
        tenant_a,
        "whatsapp",
        "whatsapp_cloud",
        is_default=True,
        **graph_api.config(session_window=False),
    )
    photo = png(4, 3)
    media = uploaded(tenant_a, photo, "photo.png", channel="whatsapp")

    # when it is sent with a caption and delivered
    response = media_send(
        api, tenant_a, media["media_url"], "image", message={"text": "Your receipt"}
    )
    assert response.status_code == 201, response.content
    message_id = response.json()["message"]["id"]
    with tenant_a.schema():
        sent = deliver_message(message_id)
    assert sent is not None and sent.status == "sent"

    # then Graph received an image message whose link is our signed URL, with the caption
    (request,) = graph_api.received
    body = json.loads(request.body)
    assert body["type"] == "image"
    assert body["image"]["caption"] == "Your receipt"
    link = body["image"]["link"]
    assert link.startswith("http://localhost:8000/media/")
    # and the link serves the photo to Graph without any credential
    fetched = Client().get(media_path(link))
    assert fetched.status_code == 200 and fetched["Content-Type"] == "image/png"
    assert b"".join(fetched.streaming_content) == photo


def test_twilio_mms_and_whatsapp_carry_the_url_as_media_url(
    api: ApiClient, tenant_a: TenantFixture, twilio_api: FakeTwilio
) -> None:
    create_integration(tenant_a, "sms", "twilio", is_default=True, **twilio_api.config())
    media = uploaded(tenant_a, JPEG, "a.jpg")
    response = media_send(api, tenant_a, media["media_url"], "image", channel="sms")
    assert response.status_code == 201, response.content
    with tenant_a.schema():
        deliver_message(response.json()["message"]["id"])
    form = form_of(twilio_api.received[0])
    assert "Body" not in form
    assert Client().get(media_path(form["MediaUrl"])).status_code == 200


def test_the_send_checks_the_file_behind_our_url(
    api: ApiClient,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = uploaded(tenant_a, png(), "a.png")
    document = uploaded(tenant_a, pdf(), "a.pdf")
    theirs = uploaded(tenant_b, png(), "b.png")

    def refused(url: str, media_type: str, **body: Any) -> dict[str, Any]:
        response = media_send(api, tenant_a, url, media_type, **body)
        assert response.status_code == 400, response.content
        return error_of(response)

    # the media type must be the file's
    mismatch = refused(image["media_url"], "document")
    assert mismatch["code"] == "media_type_mismatch" and mismatch["field"] == "message.media_type"
    # another tenant's file is unknown here (and says nothing of the other tenant)
    foreign = refused(theirs["media_url"], "image")
    assert foreign == {
        "code": "media_not_found",
        "message": "No media file of this tenant has this URL.",
        "field": "message.media_url",
    }
    # tampered, expired
    assert refused(image["media_url"][:-3] + "xyz", "image")["code"] == "invalid_media_url"
    old = url_signed_ago(
        monkeypatch, tenant_a.id, image["id"], settings.ENGIUM_MEDIA_URL_MAX_AGE_SECONDS + 5
    )
    assert refused(old, "image")["code"] == "media_url_expired"
    # the channel's limits
    settings.ENGIUM_MEDIA_CHANNEL_LIMITS = {
        "whatsapp": {"image": 10, "audio": 10, "video": 10, "document": 10_000},
        "sms": {"image": 10, "audio": 10, "video": 10, "document": 10},
        "voice": {},
    }
    assert refused(image["media_url"], "image")["code"] == "media_too_large"
    assert refused(document["media_url"], "document", channel="sms")["code"] == "media_too_large"
    voice = refused(image["media_url"], "image", channel="voice")
    assert voice["field"] == "message.media_url"
    # nothing was queued
    with tenant_a.schema():
        assert not Message.objects.exists()
    # within the limits, it goes
    ok = media_send(api, tenant_a, document["media_url"], "document")
    assert ok.status_code == 201, ok.content


def test_other_https_media_urls_are_sent_as_given(api: ApiClient, tenant_a: TenantFixture) -> None:
    url = "https://cdn.example.com/catalogue/shoe.jpg"
    response = media_send(api, tenant_a, url, "image")
    assert response.status_code == 201, response.content
    assert response.json()["message"]["media_url"] == url
    plain_http = media_send(api, tenant_a, "http://cdn.example.com/a.jpg", "image")
    assert error_of(plain_http)["field"] == "message.media_url"


def test_a_stored_message_shows_a_fresh_url(
    api: ApiClient, tenant_a: TenantFixture, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    image = uploaded(tenant_a, png(), "a.png")
    sent = media_send(api, tenant_a, image["media_url"], "image").json()["message"]
    # the message was stored with the URL it was sent with; a week on it reads afresh
    with tenant_a.schema():
        Message.objects.filter(pk=sent["id"]).update(
            media_url=url_signed_ago(
                monkeypatch, tenant_a.id, image["id"], settings.ENGIUM_MEDIA_URL_MAX_AGE_SECONDS * 2
            )
        )
    shown = api.get(f"messages/{sent['id']}", tenant=tenant_a).json()["media_url"]
    assert Client().get(media_path(shown)).status_code == 200


def test_a_document_goes_to_whatsapp_cloud_with_its_name_and_audio_without_caption(
    api: ApiClient, tenant_a: TenantFixture, graph_api: FakeGraph
) -> None:
    create_integration(
        # the 24-hour window is not what these tests are about (test_session_window.py)
        tenant_a,
        "whatsapp",
        "whatsapp_cloud",
        is_default=True,
        **graph_api.config(session_window=False),
    )
    document = uploaded(tenant_a, pdf(), "Invoice 42.pdf")
    response = media_send(
        api, tenant_a, document["media_url"], "document", message={"text": "Your invoice"}
    )
    assert response.status_code == 201, response.content
    with tenant_a.schema():
        deliver_message(response.json()["message"]["id"])
    body = json.loads(graph_api.received[0].body)
    assert body["type"] == "document"
    assert body["document"]["filename"] == "Invoice 42.pdf"
    assert body["document"]["caption"] == "Your invoice"
    assert Client().get(media_path(body["document"]["link"])).status_code == 200
