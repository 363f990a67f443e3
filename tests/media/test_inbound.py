"""Inbound media: stored on the message at once, fetched from the provider by a task."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from conversations.models import Message, MessageDirection
from conversations.services import fetch_inbound_media, redispatch_media_fetches
from media.models import FetchState, MediaFetch, MediaFile
from tests.builders import create_integration
from tests.conftest import TenantFixture
from tests.conversations.test_provider_callbacks import post_meta, post_twilio, process_all
from tests.fakes import (
    ACCESS_TOKEN,
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeGraph,
    FakeTwilio,
    basic_auth_of,
    fixture,
)
from tests.http_server import Reply, ScriptedServer
from tests.media.conftest import media_path
from tests.media.files import HTML, JPEG, png

MEDIA_ID = "1003383421387256"  # the fixture's image.id


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def graph_api() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        yield server


@pytest.fixture
def storage_server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as server:
        yield server


def inbound_message(tenant: TenantFixture) -> Message:
    with tenant.schema():
        return Message.objects.get(direction=MessageDirection.INBOUND)


def the_fetch(tenant: TenantFixture) -> MediaFetch:
    with tenant.schema():
        return MediaFetch.objects.get()


def fetch(tenant: TenantFixture) -> MediaFetch | None:
    with tenant.schema():
        return fetch_inbound_media(MediaFetch.objects.get().pk)


def twilio_media_url(fake: FakeTwilio) -> str:
    return (
        f"{fake.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM44aa44aa44aa44aa44aa44aa44aa44aa"
        "/Media/ME55bb55bb55bb55bb55bb55bb55bb55bb"
    )


def test_twilio_inbound_media_is_fetched_with_basic_auth_and_stored(
    tenant_a: TenantFixture,
    twilio_api: FakeTwilio,
    storage_server: ScriptedServer,
    media_root: Path,
) -> None:
    # given a WhatsApp photo arriving through Twilio, whose media URL redirects to storage
    integration = create_integration(
        tenant_a, "whatsapp", "twilio", is_default=True, **twilio_api.config()
    )
    params = {
        **fixture("twilio", "inbound__whatsapp_media"),
        "MediaUrl0": twilio_media_url(twilio_api),
    }
    assert post_twilio(tenant_a, integration, "inbound", params).status_code == 200
    process_all(tenant_a)

    # then the message is stored at once, before any fetch
    message = inbound_message(tenant_a)
    assert message.text == "Here is the receipt" and twilio_api.received == []
    assert the_fetch(tenant_a).state == FetchState.PENDING

    # when the task fetches it
    twilio_api.replies.append(
        Reply(status=307, body=b"", headers={"Location": f"{storage_server.url}/media/abc"})
    )
    storage_server.replies.append(Reply(body=JPEG, headers={"Content-Type": "image/jpeg"}))
    done = fetch(tenant_a)

    # then Twilio was asked with the account's credentials, its storage without them
    assert done is not None and done.state == FetchState.DONE, done and done.error
    (asked,) = twilio_api.received
    assert asked.method == "GET" and asked.path.endswith(
        "/Media/ME55bb55bb55bb55bb55bb55bb55bb55bb"
    )
    assert basic_auth_of(asked) == (ACCOUNT_SID, AUTH_TOKEN)
    assert "Authorization" not in storage_server.received[0].headers
    # and the message now points at our signed URL, which serves the photo
    message = inbound_message(tenant_a)
    with tenant_a.schema():
        media = MediaFile.objects.get()
    assert media.origin == "inbound" and media.content_type == "image/jpeg"
    assert message.media_type == "image" and message.details["media_id"] == media.id
    assert message.details["media"][0]["url"] == params["MediaUrl0"]  # the provider's, kept
    served = Client().get(media_path(message.media_url))
    assert b"".join(served.streaming_content) == JPEG
    # a repeated task does nothing
    assert fetch(tenant_a) is None


def test_whatsapp_cloud_inbound_media_is_looked_up_then_downloaded_with_the_token(
    tenant_a: TenantFixture, graph_api: FakeGraph
) -> None:
    integration = create_integration(
        tenant_a, "whatsapp", "whatsapp_cloud", is_default=True, **graph_api.config()
    )
    assert (
        post_meta(tenant_a, integration, fixture("whatsapp_cloud", "inbound__image")).status_code
        == 200
    )
    process_all(tenant_a)
    message = inbound_message(tenant_a)
    assert message.text == "The receipt" and message.media_url == ""

    photo = png(3, 3)
    download = f"{graph_api.url}/whatsapp_business/attachments/?mid={MEDIA_ID}&ext=1"
    graph_api.replies.extend(
        [
            Reply(body={"url": download, "mime_type": "image/jpeg", "id": MEDIA_ID}),
            Reply(body=photo, headers={"Content-Type": "image/jpeg"}),
        ]
    )
    done = fetch(tenant_a)
    assert done is not None and done.state == FetchState.DONE, done and done.error

    lookup, fetched = graph_api.received
    assert lookup.path == f"/v21.0/{MEDIA_ID}"
    assert fetched.path == download.removeprefix(graph_api.url)
    for request in (lookup, fetched):
        assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    message = inbound_message(tenant_a)
    # the content decides: Meta said JPEG, the bytes are PNG
    assert message.media_type == "image"
    served = Client().get(media_path(message.media_url))
    assert served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == photo


def test_a_failed_fetch_is_retried_later_by_the_sweep(
    tenant_a: TenantFixture, graph_api: FakeGraph
) -> None:
    integration = create_integration(
        tenant_a, "whatsapp", "whatsapp_cloud", is_default=True, **graph_api.config()
    )
    post_meta(tenant_a, integration, fixture("whatsapp_cloud", "inbound__image"))
    process_all(tenant_a)

    graph_api.replies.append(Reply(status=503, body={"error": {"code": 2, "message": "later"}}))
    retried = fetch(tenant_a)
    assert retried is not None and retried.state == FetchState.PENDING
    assert retried.attempts == 1 and retried.next_attempt_at > timezone.now()
    assert "2: later" in retried.error
    with tenant_a.schema():
        assert redispatch_media_fetches() == 0  # not due yet
        assert fetch_inbound_media(retried.pk) is None
        due = retried.next_attempt_at + timedelta(seconds=1)
        assert redispatch_media_fetches(now=due) == 1
        MediaFetch.objects.filter(pk=retried.pk).update(next_attempt_at=timezone.now())

    graph_api.replies.extend(
        [
            Reply(body={"url": f"{graph_api.url}/dl/1", "id": MEDIA_ID}),
            Reply(body=png(), headers={"Content-Type": "image/png"}),
        ]
    )
    done = fetch(tenant_a)
    assert done is not None and done.state == FetchState.DONE and done.attempts == 2


def test_a_refused_file_fails_the_fetch_and_the_message_keeps_the_reference(
    tenant_a: TenantFixture, twilio_api: FakeTwilio, settings: Any, media_root: Path
) -> None:
    integration = create_integration(
        tenant_a, "whatsapp", "twilio", is_default=True, **twilio_api.config()
    )
    params = {
        **fixture("twilio", "inbound__whatsapp_media"),
        "MediaUrl0": twilio_media_url(twilio_api),
    }
    post_twilio(tenant_a, integration, "inbound", params)
    process_all(tenant_a)

    # a page where a photo was announced: refused, like an upload
    twilio_api.replies.append(Reply(body=HTML, headers={"Content-Type": "image/jpeg"}))
    failed = fetch(tenant_a)
    assert failed is not None and failed.state == FetchState.FAILED
    assert failed.error.startswith("unsupported_file_type")
    message = inbound_message(tenant_a)
    assert message.media_url == params["MediaUrl0"] and "media_id" not in message.details
    with tenant_a.schema():
        assert not MediaFile.objects.exists()
    assert not media_root.exists() or not any(media_root.rglob("*.*"))


def test_an_oversized_inbound_file_is_not_downloaded_past_the_limit(
    tenant_a: TenantFixture, twilio_api: FakeTwilio, settings: Any
) -> None:
    settings.ENGIUM_MEDIA_MAX_BYTES = 1000
    integration = create_integration(
        tenant_a, "whatsapp", "twilio", is_default=True, **twilio_api.config()
    )
    params = {
        **fixture("twilio", "inbound__whatsapp_media"),
        "MediaUrl0": twilio_media_url(twilio_api),
    }
    post_twilio(tenant_a, integration, "inbound", params)
    process_all(tenant_a)
    twilio_api.replies.append(Reply(body=png(100, 100, noise=True)))
    failed = fetch(tenant_a)
    assert failed is not None and failed.state == FetchState.FAILED
    assert failed.error.startswith("media_too_large")
