"""Media through real processes: uploads through gunicorn, a provider fetching our signed URL
over HTTP, and inbound media fetched by the worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from integrations.providers.whatsapp_cloud import hub_signature
from tests.e2e.conftest import Stack, Tenant, wait_until
from tests.e2e.test_request_bodies import chunked
from tests.fakes import APP_SECRET, FakeGraph, fixture
from tests.http_server import Received, Reply
from tests.media.files import png

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


@pytest.fixture
def graph_api() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        yield server


def _whatsapp_cloud(tenant: Tenant, graph: FakeGraph) -> dict[str, Any]:
    answer = tenant.client.post(
        "integrations",
        json={
            "channel": "whatsapp",
            "provider": "whatsapp_cloud",
            # a first message, not an answer: the 24-hour window is not tested here
            "config": graph.config(session_window=False),
            "is_default": True,
        },
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_an_uploaded_image_goes_out_on_whatsapp_and_graph_fetches_it(
    stack: Stack, live_tenant: Tenant, graph_api: FakeGraph
) -> None:
    _whatsapp_cloud(live_tenant, graph_api)
    fetched: list[httpx.Response] = []

    def accept_and_fetch(received: Received) -> Any:
        # Like Meta: take the message, then fetch its media from the link, without credentials.
        link = json.loads(received.body)["image"]["link"]
        fetched.append(httpx.get(link, timeout=20))
        return graph_api._answer(received)

    graph_api.default = Reply(body=accept_and_fetch)

    # a 3 MB photo (over the API's 1 MiB body cap, under WhatsApp's 5 MB)
    photo = png(1000, 1000, noise=True)
    upload = live_tenant.client.post(
        "media", files={"file": ("photo.png", photo, "image/png")}, data={"channel": "whatsapp"}
    )
    assert upload.status_code == 201, upload.text
    media = upload.json()
    assert media["media_url"].startswith(f"{stack.base_url}/media/")

    sent = live_tenant.client.post(
        "conversations/send",
        json={
            "recipient": "+15550102999",
            "channel": "whatsapp",
            "message": {"media_url": media["media_url"], "media_type": "image", "text": "Photo"},
        },
    )
    assert sent.status_code == 201, sent.text
    message_id = sent.json()["message"]["id"]
    try:
        wait_until(
            lambda: live_tenant.client.get(f"messages/{message_id}").json()["status"] == "sent",
            30,
            "sent",
        )
    except AssertionError:
        print(stack.logs())
        raise
    (response,) = fetched
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.content == photo


def test_a_chunked_upload_is_spooled_and_stored(stack: Stack, live_tenant: Tenant) -> None:
    photo = png(800, 700, noise=True)  # 1.7 MB: past the 1 MiB in-memory spool
    request = httpx.Request("POST", "http://x/", files={"file": ("photo.png", photo, "image/png")})
    body = request.read()
    answer = live_tenant.client.post(
        "media",
        content=chunked(body, 64 * 1024),
        headers={"Content-Type": request.headers["Content-Type"]},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["size"] == len(photo)
    served = httpx.get(answer.json()["media_url"], timeout=20)
    assert served.content == photo


def test_inbound_whatsapp_media_is_fetched_by_the_worker(
    stack: Stack, live_tenant: Tenant, graph_api: FakeGraph
) -> None:
    integration = _whatsapp_cloud(live_tenant, graph_api)
    photo = png(5, 5)
    graph_api.replies.extend(
        [
            Reply(body={"url": f"{graph_api.url}/attachments/1", "mime_type": "image/jpeg"}),
            Reply(body=photo, headers={"Content-Type": "image/jpeg"}),
        ]
    )
    event = json.dumps(fixture("whatsapp_cloud", "inbound__image")).encode()
    answer = httpx.post(
        integration["callback_urls"]["events"],
        content=event,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": hub_signature(APP_SECRET, event),
        },
        timeout=20,
    )
    assert answer.status_code == 200, answer.text

    def inbound() -> dict[str, Any] | None:
        rows = live_tenant.client.get("messages", params={"direction": "inbound"}).json()["data"]
        return rows[0] if rows and rows[0]["media_url"] else None

    try:
        wait_until(lambda: inbound() is not None, 30, "inbound media stored")
    except AssertionError:
        print(stack.logs())
        raise
    message = inbound()
    assert message is not None and message["text"] == "The receipt"
    assert message["details"]["media_id"].startswith("med_")
    served = httpx.get(message["media_url"], timeout=20)
    assert served.headers["Content-Type"] == "image/png" and served.content == photo


def test_nginx_passes_uploads_up_to_100_mb_and_keeps_other_bodies_small(
    stack: Stack, live_tenant: Tenant, proxy: str
) -> None:
    headers = dict(live_tenant.client.headers)
    # 20 MB: past nginx's 16m for every other path, a document-sized upload for WhatsApp
    big = png(2600, 2600, noise=True)
    assert 16 * 1024 * 1024 < len(big) < 100_000_000
    answer = httpx.post(
        f"{proxy}/api/v1/media",
        files={"file": ("scan.png", big, "image/png")},
        headers=headers,
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["size"] == len(big)
    # the API's own 1 MiB cap still answers every other endpoint, in its JSON shape
    refused = httpx.post(
        f"{proxy}/api/v1/conversations/send",
        content=b" " * (2 * 1024 * 1024),
        headers={**headers, "Content-Type": "application/json"},
        timeout=60,
    )
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "payload_too_large"
